// Renders a Manual (src/cli/manual.ts) as a man(7) page: the --help texts as they are, laid out as synopsis, paragraphs and option lists.
import type { Manual } from './manual.js';

/** Text as roff: backslashes and minus signs escaped, a control character at a line start neutralised. */
export function roffEscape(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

/** `-c, --config PATH` -> options in bold, their arguments in italics; a leading command word in bold. */
function roffTerm(term: string): string {
  return term.split(/( |, )/).map((token, i) => {
    if (token === ' ' || token === ', ' || token === '') return token;
    if (token.startsWith('-') || (i === 0 && /^[a-z][\w-]*$/.test(token))) return `\\fB${roffEscape(token)}\\fR`;
    return `\\fI${roffEscape(token)}\\fR`;
  }).join('');
}

interface ListItem { term: string; text: string[] }
type Block = { kind: 'para'; lines: string[] } | { kind: 'list'; items: ListItem[] };

/** Splits one paragraph of help text into running text and "TERM  description" lists (with their continuation lines). */
function parseParagraph(paragraph: string, listIndentFrom: number): Block[] {
  const blocks: Block[] = [];
  for (const line of paragraph.split('\n')) {
    const indent = line.length - line.trimStart().length;
    const last = blocks.at(-1);
    if (last?.kind === 'list' && indent > 6) {
      last.items.at(-1)!.text.push(line.trim());
      continue;
    }
    const item = /^( *)(\S(?:.*?\S)?) {2,}(\S.*)$/.exec(line);
    if (item && item[1]!.length >= listIndentFrom && item[1]!.length <= 6) {
      const entry = { term: item[2]!, text: [item[3]!] };
      if (last?.kind === 'list') last.items.push(entry);
      else blocks.push({ kind: 'list', items: [entry] });
      continue;
    }
    if (last?.kind === 'para') last.lines.push(line.trim());
    else blocks.push({ kind: 'para', lines: [line.trim()] });
  }
  return blocks;
}

function renderBlocks(blocks: Block[]): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if (block.kind === 'para') {
      out.push('.PP', roffEscape(block.lines.join('\n')));
    } else {
      for (const item of block.items) out.push('.TP', roffTerm(item.term), roffEscape(item.text.join('\n')));
    }
  }
  return out;
}

/** "Usage: coral connect A\n       coral connect B\n     [more]" -> one synopsis line per invocation. */
function synopsisLines(usageBlock: string, program: string): string[] {
  const lines: string[] = [];
  for (const raw of usageBlock.replace(/^Usage:\s*/, '').split('\n')) {
    const line = raw.trim();
    if (line.startsWith(`${program} `) || line === program || lines.length === 0) lines.push(line);
    else lines[lines.length - 1] += ` ${line}`;
  }
  return lines;
}

function renderSynopsis(usageBlock: string, program: string): string[] {
  const out: string[] = ['.nf'];
  for (const line of synopsisLines(usageBlock, program)) {
    const command = /^([a-z][\w-]*(?: [a-z][\w-]*)*)(.*)$/.exec(line)!;
    out.push(`\\fB${roffEscape(command[1]!)}\\fR${roffEscape(command[2]!)}`);
  }
  out.push('.fi');
  return out;
}

/** A --help text: its Usage paragraph as a synopsis, the rest as paragraphs and lists. */
function renderHelp(usage: string, program: string, opts: { synopsisTitle?: string } = {}): string[] {
  const [first, ...rest] = usage.split(/\n\n+/);
  const out: string[] = [];
  if (opts.synopsisTitle) out.push(`.SH ${opts.synopsisTitle}`);
  out.push(...renderSynopsis(first!, program));
  if (opts.synopsisTitle) out.push('.SH DESCRIPTION');
  for (const paragraph of rest) out.push(...renderBlocks(parseParagraph(paragraph, 2)));
  return out;
}

export function renderManPage(manual: Manual, opts: { date: string; version: string }): string {
  const { program, section } = manual;
  const out: string[] = [
    `.\\" ${program}(${section}): generated from the --help texts (src/cli/manual.ts); edit those, not this file.`,
    `.TH ${program.toUpperCase()} ${section} "${opts.date}" "coral-agent ${opts.version}" "${section === 1 ? 'User Commands' : 'System Administration'}"`,
    '.nh',
    '.ad l',
    '.SH NAME',
    `${roffEscape(program)} \\- ${roffEscape(manual.summary)}`,
    ...renderHelp(manual.usage, program, { synopsisTitle: 'SYNOPSIS' }),
    '.SH COMMANDS',
  ];
  for (const command of manual.commands) {
    out.push(`.SS "${roffEscape(`${program} ${command.name}`)}"`, ...renderHelp(command.usage, program));
  }
  for (const extra of manual.sections) {
    out.push(`.SH ${extra.title}`);
    for (const paragraph of extra.text.split(/\n\n+/)) out.push(...renderBlocks(parseParagraph(paragraph, 0)));
  }
  out.push('.SH SEE ALSO');
  manual.seeAlso.forEach((ref, i) => {
    const [, name, sec] = /^(.+)\((\d)\)$/.exec(ref)!;
    out.push(`.BR ${roffEscape(name!)} (${sec})${i < manual.seeAlso.length - 1 ? ',' : ''}`);
  });
  return `${out.join('\n')}\n`;
}
