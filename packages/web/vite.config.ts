import { defineConfig } from 'vite'
import { viewerPacing } from './src/build/viewer-pacing.js'

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  plugins: [viewerPacing()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev -w @truss/web` against a `truss serve` on :3000.
    proxy: Object.fromEntries(
      ['/graphql', '/api', '/auth', '/objects', '/preview', '/streams'].map((p) => [
        p,
        { target: 'http://127.0.0.1:3000', ws: p === '/graphql' },
      ]),
    ),
  },
})
