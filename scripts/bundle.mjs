// The build's last step: esbuild bundles each CLI entry point (dist/src/cli/*.js, from tsc) into one file, dist/bundle/cli/NAME.js, which the package runs.
// esbuild: one well-kept, dependency-free bundler that reads the JavaScript tsc already checked and emits plain ESM for Node 20 in ~100 ms.
import { existsSync } from 'node:fs';
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

for (const name of ENTRIES) {
  const entry = join(root, 'dist/src/cli', `${name}.js`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: tsc runs first`);
  await esbuild.build({
    entryPoints: [entry],
    outfile: join(root, 'dist/bundle/cli', `${name}.js`),
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
}
