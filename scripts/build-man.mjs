// A build step: renders the manual pages coral.1 and coral-agent.8 into dist/man from the compiled --help texts (src/cli/manual.ts), so they cannot drift from --help.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { MANUALS } = await import(join(root, 'dist/src/cli/manual.js'));
const { renderManPage } = await import(join(root, 'dist/src/cli/help-to-man.js'));

const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
// The date of the newest changelog entry: the same pages from the same source (reproducible builds).
const changelog = readFileSync(join(root, 'packaging/debian/changelog'), 'utf8');
const stamp = /^ -- .+?>  (.+)$/m.exec(changelog);
if (!stamp) throw new Error('packaging/debian/changelog: no " -- NAME <MAIL>  DATE" line');
const date = new Date(stamp[1]).toISOString().slice(0, 10);

const out = join(root, 'dist/man');
mkdirSync(out, { recursive: true });
for (const manual of MANUALS) {
  writeFileSync(join(out, `${manual.program}.${manual.section}`), renderManPage(manual, { date, version }));
}
