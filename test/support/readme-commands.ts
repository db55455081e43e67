// The README's shell blocks: each is marked <!-- runs-as-written --> (a test runs its commands in order) or <!-- not-run: why -->; run as a script, prints the commands one a line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  runs: boolean;
  /** The block's command lines as written (comment-only and blank lines left out). */
  commands: string[];
}

/** Every ```sh block with its marker; a block without one is an error, so a new block is a decision. */
export function readmeShellBlocks(text: string, file = 'README.md'): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) {
      if (/^```/.test(lines[i]!)) {
        const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
        if (end > i) i = end;
      }
      continue;
    }
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const marker = lines[before]?.trim() ?? '';
    const runs = marker === '<!-- runs-as-written -->';
    if (!runs && !/^<!-- not-run: .+ -->$/.test(marker)) {
      throw new Error(`${file}:${i + 1}: a shell block needs <!-- runs-as-written --> or <!-- not-run: why --> on the line before it`);
    }
    const commands: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^```\s*$/.test(lines[j]!); j++) {
      const line = lines[j]!;
      if (line.trim() !== '' && !line.trim().startsWith('#')) commands.push(line);
    }
    blocks.push({ line: i + 1, runs, commands });
    i = j;
  }
  return blocks;
}

/** The commands to run, in order: those of every block marked runs-as-written. */
export function readmeCommands(text: string, file?: string): string[] {
  return readmeShellBlocks(text, file).filter((b) => b.runs).flatMap((b) => b.commands);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? 'README.md';
  for (const command of readmeCommands(readFileSync(file, 'utf8'), file)) process.stdout.write(`${command}\n`);
}
