// Bash completion for coral and coral-agent, driven as bash drives it: every command in --help, every option in each command's --help, values for the options that take a fixed set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MANUALS } from '../src/cli/manual.js';

const completion = (program: string): string => fileURLToPath(new URL(`../../packaging/${program}.bash-completion`, import.meta.url));

/** COMPREPLY after bash completes the last word of `line` (split on spaces; a trailing space means an empty word). */
function complete(program: string, line: string): string[] {
  const words = line.split(' ');
  const fn = program === 'coral' ? '_coral' : '_coral_agent';
  const script = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE='${line}'; COMP_POINT=${line.length}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', completion(program)], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.split('\n').filter((w) => w !== '').sort();
}

/** The long options a --help text lists (its option lines, not options named in the prose). */
function listedOptions(help: string): string[] {
  return [...help.matchAll(/^ {2,6}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!).sort();
}

for (const manual of MANUALS) {
  test(`${manual.program}: completion offers every command and every option its --help lists`, () => {
    const commands = complete(manual.program, `${manual.program} `);
    for (const command of manual.commands) assert.ok(commands.includes(command.name.split(' ')[0]!), `${manual.program} <TAB> does not offer ${command.name}`);
    for (const command of manual.commands) {
      const offered = complete(manual.program, `${manual.program} ${command.name} --`);
      for (const option of listedOptions(command.usage)) {
        assert.ok(offered.includes(option), `${manual.program} ${command.name} --<TAB> does not offer ${option} (offers: ${offered.join(' ')})`);
      }
      assert.ok(offered.includes('--help'), `${manual.program} ${command.name} --<TAB> does not offer --help`);
    }
  });
}

test('coral-agent completion: config offers show; option values (log levels) and prefixes narrow the list', () => {
  assert.deepEqual(complete('coral-agent', 'coral-agent config '), ['--help', 'show']);
  assert.deepEqual(complete('coral-agent', 'coral-agent run --log-level w'), ['warn']);
  assert.deepEqual(complete('coral-agent', 'coral-agent ch'), ['check']);
  assert.deepEqual(complete('coral-agent', 'coral-agent doctor --r'), ['--root']);
  assert.deepEqual(complete('coral', 'coral connect --f'), ['--force']);
});
