// The build's last step: esbuild bundles the CLI entry points (dist/src/cli/*.js, from tsc) into dist/bundle/cli/NAME.js plus shared chunks, and `coral`'s CommonJS launcher coral.cjs, which the package runs.
// esbuild: one well-kept, dependency-free bundler that reads the JavaScript tsc already checked and emits plain ESM for Node 20 in ~100 ms.
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const ENTRIES = ['coral', 'coral-agent'];

let esbuild;
try {
  esbuild = createRequire(import.meta.url)('esbuild');
} catch {
  // A checkout whose node_modules predates the dependency still builds and runs from dist/src.
  console.error('bundle: esbuild is not installed (npm install); dist/bundle not built, the commands run from dist/src');
  process.exit(0);
}

const entryPoints = ENTRIES.map((name) => {
  const entry = join(root, 'dist/src/cli', `${name}.js`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: tsc runs first`);
  return entry;
});
rmSync(join(root, 'dist/bundle/cli'), { recursive: true, force: true });
await esbuild.build({
  entryPoints,
  outdir: join(root, 'dist/bundle/cli'),
  // What a command imports only when it runs (import()) becomes a chunk beside the entry: `coral connect`
  // with the agent running loads a few kB, not the whole CLI. Same directory, so import.meta.url-relative paths hold.
  splitting: true,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The native addon and the build-time validators stay files (the validators are loaded by URL at run time).
  external: ['sd-notify'],
  // CommonJS dependencies (pino, proper-lockfile) call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __coralCreateRequire } from 'node:module';\nconst require = __coralCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
// `coral` as the package runs it: a CommonJS launcher with the agent's fast path for connect and disconnect inlined, so
// those start no ES module loader (about a third of Node's own start-up); it imports ./coral.js above for anything else.
await esbuild.build({
  entryPoints: [join(root, 'dist/src/cli/coral-launcher.js')],
  outfile: join(root, 'dist/bundle/cli/coral.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['./coral.js'],
  legalComments: 'none',
  logLevel: 'warning',
});
