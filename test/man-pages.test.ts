// coral(1) and coral-agent(8) are rendered from the --help texts: each command's help is what the CLI prints, and every option in it is in the manual page.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderManPage } from '../src/cli/help-to-man.js';
import { MANUALS } from '../src/cli/manual.js';
import { runNode } from './support/run-node.js';

const cli = (program: string): string => fileURLToPath(new URL(`../src/cli/${program}.js`, import.meta.url));
const builtPage = (program: string, section: number): string => fileURLToPath(new URL(`../man/${program}.${section}`, import.meta.url));

/** Every option a --help text names: `--long` and `-x` words, in the lists and in the prose. */
export function optionsIn(help: string): string[] {
  return [...new Set([...help.matchAll(/(?<![\w./-])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]!))].sort();
}

/** The page as man(1) shows it, wide enough that no option is hyphenated or wrapped. */
function renderedText(file: string): string {
  const r = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MANWIDTH: '200', LC_ALL: 'C.UTF-8', MAN_KEEP_FORMATTING: '' } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/‐\n\s*/g, '').replace(/[‐−]/g, '-');
}

/** The text of one subsection ("   coral connect") up to the next one or the next section. */
function subsection(page: string, title: string): string {
  const start = page.indexOf(`\n   ${title}\n`);
  assert.notEqual(start, -1, `no subsection "${title}" in the page`);
  const rest = page.slice(start + title.length + 5);
  const end = rest.search(/\n {3}\S|\n\S/);
  return end === -1 ? rest : rest.slice(0, end);
}

for (const manual of MANUALS) {
  test(`${manual.program}(${manual.section}): each command's --help is the page's text, and every option of it is in its subsection`, async () => {
    const page = renderedText(builtPage(manual.program, manual.section));
    const top = await runNode(cli(manual.program), ['--help']);
    assert.equal(top.stdout, `${manual.usage}\n`, `${manual.program} --help is not the page's source`);
    // Every command the top-level help lists has its subsection (and no subsection is for a command not listed).
    const listed = manual.usage.split('\n\n').find((p) => p.startsWith('Commands:'))!.split('\n').slice(1)
      .map((line) => manual.commands.find((c) => new RegExp(`^\\s+${c.name}[ ,]`).test(line))?.name ?? line.trim());
    assert.deepEqual(listed, manual.commands.map((c) => c.name), `${manual.program} --help lists other commands than the page`);
    for (const command of manual.commands) {
      const help = await runNode(cli(manual.program), [...command.name.split(' '), '--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.equal(help.stdout, `${command.usage}\n`, `${manual.program} ${command.name} --help is not the page's source`);
      const text = subsection(page, `${manual.program} ${command.name}`);
      const options = optionsIn(help.stdout);
      assert.ok(command.name === 'version' || options.includes('--help'), `${command.name}: no options found in its --help`);
      for (const option of options) assert.match(text, new RegExp(`(?<![\\w-])${option}(?![\\w-])`), `${manual.program} ${command.name}: ${option} is in --help but not in the manual page`);
      // An option --help lists on a line of its own heads an entry of the page's list too.
      for (const [, option] of help.stdout.matchAll(/^ {2,6}(?:-\w, )?(--[\w-]+)/gm)) {
        assert.match(text, new RegExp(`^ +(?:-\\w, )?${option}( |$)`, 'm'), `${manual.program} ${command.name}: ${option} has no entry in the manual page's option list`);
      }
    }
  });
}

test('the built pages are what the manuals render now (the build wrote them), and man --warnings has nothing to say', () => {
  const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
  for (const manual of MANUALS) {
    const file = builtPage(manual.program, manual.section);
    const built = readFileSync(file, 'utf8');
    const date = /^\.TH \S+ \d "([\d-]+)"/m.exec(built)?.[1];
    assert.ok(date, `${file}: no .TH date`);
    assert.equal(built, renderManPage(manual, { date, version }));
    const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8', MANROFFSEQ: '', MANWIDTH: '80' } });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '', `${file}: roff warnings`);
  }
});
