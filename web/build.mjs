// Builds the web application into tusd_py/webapp/static/ (app.js, app.css, VERSIONS.txt): one
// bundle, no CDN, committed so that `make run` needs no Node. `make frontend` runs this.
import * as esbuild from 'esbuild'
import { readFileSync, writeFileSync } from 'node:fs'

const out = new URL('../tusd_py/webapp/static/', import.meta.url).pathname

await esbuild.build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  outdir: out,
  legalComments: 'eof',
  logLevel: 'warning',
})

// What the bundle is made of, to the exact version: the lock file's resolved tree.
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'))
const direct = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies)
const lines = Object.entries(lock.packages)
  .filter(([path, info]) => path.startsWith('node_modules/') && !info.dev) // in the bundle, not the build tools
  .map(([path, info]) => `${path.slice('node_modules/'.length).replaceAll('/node_modules/', ' > ')} ${info.version}`)
  .sort()
writeFileSync(`${out}VERSIONS.txt`,
  `# Built by web/build.mjs (make frontend) from web/package-lock.json.\n# Bundled: ${direct.join(', ')}; built with esbuild ${lock.packages['node_modules/esbuild'].version}\n${lines.join('\n')}\n`)
