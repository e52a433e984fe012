/**
 * @file Vite config for the app: React, Tailwind v4 through its Vite plugin, ES-module workers (the engine
 * worker imports ES modules and `?raw` WGSL), and the fixed preview port that `npm start` and Playwright use.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  worker: { format: 'es' },
  build: { target: 'es2022' },
  preview: { port: 4173, strictPort: true },
});
