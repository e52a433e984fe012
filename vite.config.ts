/**
 * @file Vite config for the app: React, Tailwind v4 through its Vite plugin, ES-module workers (the engine
 * worker imports ES modules and `?raw` WGSL), the fixed preview port that `npm start` and Playwright use, and
 * the PWA: a web app manifest and a generated service worker that precaches the app shell (HTML, JS, CSS,
 * icons, the engine worker) so Brix opens offline. Model weights are never precached: they are large and the
 * weight cache (IndexedDB) holds them; only the small model manifests are kept, network-first.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { VitePWA } from 'vite-plugin-pwa';

const THEME = '#0f766e';

export default defineConfig({
  plugins: [
    react(),
    tailwindcss(),
    VitePWA({
      // The app shows its own prompt (app/components/UpdatePrompt.tsx) and registers through the virtual module.
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['favicon.svg', 'apple-touch-icon-180x180.png'],
      manifest: {
        id: './',
        name: 'Brix',
        short_name: 'Brix',
        description: 'Mixture-of-Experts language models running entirely in your browser tab on WebGPU',
        lang: 'en',
        start_url: './',
        scope: './',
        display: 'standalone',
        theme_color: THEME,
        background_color: '#ffffff',
        categories: ['productivity', 'utilities'],
        icons: [
          { src: 'pwa-192x192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'pwa-512x512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'maskable-icon-512x512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,ico,woff2}'],
        // Weights live in the weight cache; a precached 30 MB model would also be downloaded twice. WebLLM's
        // library and worker (6 MB each) are cached on first use instead (runtimeCaching below): installing the
        // app should not cost 12 MB for an optional comparison engine, and after one use it works offline too.
        globIgnores: ['models/**', '**/*.gguf', '**/webllm*.js', '**/wllama*.js'],
        // The engine worker bundle is larger than workbox's 2 MiB default; anything bigger is not app shell.
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: 'index.html',
        navigateFallbackDenylist: [/\/models\//],
        cleanupOutdatedCaches: true,
        // The first install controls the open page at once (so it works offline without a reload); later
        // versions wait for the user's "Reload" in the update prompt.
        clientsClaim: true,
        runtimeCaching: [
          {
            urlPattern: /\/assets\/webllm[^/]*\.js$/,
            handler: 'CacheFirst',
            options: { cacheName: 'brix-webllm', expiration: { maxEntries: 8 } },
          },
          {
            // wllama's library and its 8.8 MB wasm, served from this origin: cached on first use, like WebLLM's.
            urlPattern: /\/assets\/wllama[^/]*\.(js|wasm)$/,
            handler: 'CacheFirst',
            options: { cacheName: 'brix-wllama', expiration: { maxEntries: 8 } },
          },
          {
            urlPattern: /\/models\/[^/]+\/manifest\.json$/,
            handler: 'NetworkFirst',
            options: { cacheName: 'brix-model-manifests', networkTimeoutSeconds: 3, expiration: { maxEntries: 32 } },
          },
        ],
      },
    }),
  ],
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // WebLLM's and wllama's libraries get recognisable names: they are left out of the precache (see workbox above).
    // Only their code: wllama's `wasm?url` import is a string the app's own chunk needs, and putting it in the
    // lazy chunk made the app import that chunk at start (so an offline start failed).
    rollupOptions: {
      output: {
        manualChunks: (id: string) =>
          id.includes('?')
            ? undefined
            : id.includes('/node_modules/@mlc-ai/web-llm/')
              ? 'webllm-lib'
              : id.includes('/node_modules/@wllama/wllama/')
                ? 'wllama-lib'
                : undefined,
      },
    },
  },
  preview: { port: 4173, strictPort: true },
});
