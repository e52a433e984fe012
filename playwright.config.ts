/**
 * @file Playwright e2e config: one worker, serial (software WebGPU is slow and Dawn dislikes parallel
 * instances), one retry in CI (SwiftShader occasionally loses its instance on shared runners). The app is
 * built by scripts/test.mjs first; here we only serve it. Debian's /usr/bin/chromium is preferred because it
 * ships SwiftShader's Vulkan ICD; `--enable-unsafe-webgpu` is what turns WebGPU on in headless Linux Chromium.
 */
import { existsSync } from 'node:fs';
import { defineConfig, devices } from '@playwright/test';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
// BRIX_E2E_PORT lets two checkouts on one machine run e2e at once without reusing each other's server.
const PORT = Number(process.env.BRIX_E2E_PORT ?? 4173);
const CI = Boolean(process.env.CI);

export default defineConfig({
  testDir: 'tests/e2e',
  fullyParallel: false,
  workers: 1,
  retries: CI ? 1 : 0,
  forbidOnly: CI,
  timeout: 60_000,
  expect: { timeout: 30_000 },
  reporter: CI ? 'list' : [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://localhost:${PORT}`,
    trace: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          ...(existsSync(SYSTEM_CHROMIUM) ? { executablePath: SYSTEM_CHROMIUM } : {}),
          args: [
            '--no-sandbox',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--disable-quic',
            '--enable-unsafe-webgpu',
          ],
        },
      },
    },
  ],
  webServer: {
    command: `npx vite preview --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: !CI,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
