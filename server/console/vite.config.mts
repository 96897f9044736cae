import path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/*
 * The console build. Run from the repository root:
 *   npx vite build --config server/console/vite.config.mts
 * Output goes to <repo>/dist/console (served by the collector's ConsoleModule); set
 * MAMORI_CONSOLE_OUT_DIR to build somewhere else. `npx vite --config server/console/vite.config.mts`
 * starts a dev server that forwards /api to the collector at MAMORI_CONSOLE_API
 * (default http://127.0.0.1:8080).
 */
const consoleRoot = import.meta.dirname;
const repoRoot = path.resolve(consoleRoot, '..', '..');
const outDir = process.env.MAMORI_CONSOLE_OUT_DIR
  ? path.resolve(process.env.MAMORI_CONSOLE_OUT_DIR)
  : path.join(repoRoot, 'dist', 'console');

export default defineConfig({
  root: consoleRoot,
  base: '/',
  plugins: [react()],
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // The collector's CSP allows no inline script or style: keep every asset a file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      '/api': { target: process.env.MAMORI_CONSOLE_API ?? 'http://127.0.0.1:8080', changeOrigin: false },
    },
  },
});
