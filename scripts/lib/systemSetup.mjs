/**
 * @file What `npm test` (scripts/test.mjs) does when system packages its stages need are missing (Debian's
 * Chromium, which brings SwiftShader; Mesa's lavapipe): run scripts/setup-system.sh itself where it can without
 * asking for a password (as root, or with `sudo -n`), else stop before any stage with the one command to run.
 * Pure: the caller probes the machine and carries the plan out.
 */

/** The command a person runs when test.mjs cannot. */
export const SETUP_COMMAND = 'sudo bash scripts/setup-system.sh';

/**
 * What the chosen stages need from setup-system.sh that is absent, in words: e2e needs Chromium, kernels on
 * SwiftShader its Vulkan driver (both Debian's chromium package), kernels on lavapipe and golden lavapipe.
 * @param {readonly string[]} stages
 * @param {{ chromium: string, swiftshader: string, lavapipe: string }} paths
 * @param {(file: string) => boolean} exists
 * @returns {string[]}
 */
export function missingFor(stages, paths, exists) {
  const missing = [];
  const chromium = [stages.includes('e2e') ? paths.chromium : undefined, stages.includes('kernels:swiftshader') ? paths.swiftshader : undefined];
  const absent = chromium.filter((f) => f !== undefined && !exists(f));
  if (absent.length) missing.push(`Chromium (${absent.join(', ')})`);
  if (stages.some((s) => s === 'kernels:lavapipe' || s === 'golden') && !exists(paths.lavapipe)) missing.push(`the lavapipe Vulkan driver (${paths.lavapipe})`);
  return missing;
}

/**
 * @param {{ uid: number | undefined, hasSudo: boolean, missing: readonly string[] }} facts `uid` is
 *   process.getuid() (undefined off POSIX); `hasSudo`: `sudo -n true` succeeded; `missing`: what is absent, in words.
 * @returns {import('./systemSetup.d.mts').SetupPlan}
 */
export function setupPlan({ uid, hasSudo, missing }) {
  if (missing.length === 0) return { action: 'none' };
  const what = missing.join(' and ');
  if (uid === 0) {
    return { action: 'install', argv: ['bash', 'scripts/setup-system.sh'], message: `test.mjs: ${what} missing; running scripts/setup-system.sh (as root)` };
  }
  if (hasSudo) {
    return {
      action: 'install',
      argv: ['sudo', '-n', 'bash', 'scripts/setup-system.sh'],
      message: `test.mjs: ${what} missing; running \`sudo -n bash scripts/setup-system.sh\``,
    };
  }
  return { action: 'stop', message: `test.mjs: ${what} missing and no root or password-less sudo here: run \`${SETUP_COMMAND}\`, then \`npm test\` again` };
}
