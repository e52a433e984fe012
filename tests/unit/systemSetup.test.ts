/**
 * @file `npm test` on a machine without the system packages (scripts/lib/systemSetup.mjs, scripts/test.mjs):
 * which stages need what, the plan (run scripts/setup-system.sh as root or with password-less sudo, else stop
 * with the one command), and test.mjs itself stopping before any stage when it may not install
 * (BRIX_NO_SYSTEM_SETUP=1; nothing is installed here).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETUP_COMMAND, missingFor, setupPlan } from '../../scripts/lib/systemSetup.mjs';

const PATHS = { chromium: '/usr/bin/chromium', swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json', lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json' };
const ALL = ['typecheck', 'unit', 'kernels:lavapipe', 'kernels:swiftshader', 'golden', 'e2e'];
const none = (): boolean => false;
const all = (): boolean => true;

describe('missingFor', () => {
  it('a fresh machine: npm test needs Chromium (binary and SwiftShader driver) and lavapipe', () => {
    expect(missingFor(ALL, PATHS, none)).toEqual([
      'Chromium (/usr/bin/chromium, /usr/lib/chromium/vk_swiftshader_icd.json)',
      'the lavapipe Vulkan driver (/usr/share/vulkan/icd.d/lvp_icd.json)',
    ]);
    expect(missingFor(ALL, PATHS, all)).toEqual([]);
  });
  it('only what the chosen stages need', () => {
    expect(missingFor(['typecheck', 'unit'], PATHS, none)).toEqual([]);
    expect(missingFor(['e2e'], PATHS, none)).toEqual(['Chromium (/usr/bin/chromium)']);
    expect(missingFor(['golden'], PATHS, none)).toEqual(['the lavapipe Vulkan driver (/usr/share/vulkan/icd.d/lvp_icd.json)']);
    expect(missingFor(['kernels:swiftshader'], PATHS, (f) => f === PATHS.chromium)).toEqual(['Chromium (/usr/lib/chromium/vk_swiftshader_icd.json)']);
    expect(missingFor(ALL, PATHS, (f) => f !== PATHS.lavapipe)).toEqual(['the lavapipe Vulkan driver (/usr/share/vulkan/icd.d/lvp_icd.json)']);
  });
});

describe('setupPlan', () => {
  const missing = ['Chromium (/usr/bin/chromium)', 'the lavapipe Vulkan driver (/x/lvp_icd.json)'];
  it('nothing missing: nothing to do, whoever runs it', () => {
    expect(setupPlan({ uid: 1000, hasSudo: false, missing: [] })).toEqual({ action: 'none' });
    expect(setupPlan({ uid: 0, hasSudo: false, missing: [] })).toEqual({ action: 'none' });
  });
  it('root runs the script itself and says so', () => {
    expect(setupPlan({ uid: 0, hasSudo: false, missing })).toEqual({
      action: 'install',
      argv: ['bash', 'scripts/setup-system.sh'],
      message: 'test.mjs: Chromium (/usr/bin/chromium) and the lavapipe Vulkan driver (/x/lvp_icd.json) missing; running scripts/setup-system.sh (as root)',
    });
  });
  it('password-less sudo: the script under sudo -n (never a prompt)', () => {
    const p = setupPlan({ uid: 1000, hasSudo: true, missing });
    expect(p).toMatchObject({ action: 'install', argv: ['sudo', '-n', 'bash', 'scripts/setup-system.sh'] });
    expect(p.action === 'install' && p.message).toMatch(/missing; running `sudo -n bash scripts\/setup-system\.sh`$/);
  });
  it('neither (or off POSIX): stop with one line naming the exact command', () => {
    for (const uid of [1000, undefined]) {
      const p = setupPlan({ uid, hasSudo: false, missing: missing.slice(0, 1) });
      expect(p.action).toBe('stop');
      const m = p.action === 'stop' ? p.message : '';
      expect(m).not.toContain('\n');
      expect(m).toContain('Chromium (/usr/bin/chromium) missing');
      expect(m).toContain(`run \`${SETUP_COMMAND}\``);
    }
    expect(SETUP_COMMAND).toBe('sudo bash scripts/setup-system.sh');
  });
});

describe('scripts/test.mjs', () => {
  it('stops at once, before any stage, with the command, when it may not install', () => {
    expect(existsSync('/usr/bin/apt-get'), 'this test runs on Debian (the probe looks for apt-get)').toBe(true);
    const r = spawnSync('node', ['scripts/test.mjs', 'kernels:lavapipe'], {
      encoding: 'utf8',
      env: { ...process.env, BRIX_NO_SYSTEM_SETUP: '1', BRIX_ICD_LAVAPIPE: '/nonexistent/lvp_icd.json' },
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('====');
    expect(r.stderr.trim().split('\n')).toEqual([
      'test.mjs: the lavapipe Vulkan driver (/nonexistent/lvp_icd.json) missing and no root or password-less sudo here: run `sudo bash scripts/setup-system.sh`, then `npm test` again',
    ]);
  });
});
