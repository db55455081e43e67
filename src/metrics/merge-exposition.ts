// Append a second Prometheus text exposition to the agent's, dropping families the agent already has.

export interface MergeResult {
  text: string;
  /** Family names dropped from the extra part because the agent part defines them. */
  dropped: string[];
}

const SUFFIXES = ['_bucket', '_count', '_sum', '_total', '_created', '_info'];

/** Family names declared by `# HELP` / `# TYPE` lines. */
function declaredFamilies(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^#\s+(?:HELP|TYPE)\s+(\S+)/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return names;
}

/** The family a sample line belongs to, if `known` has it (a bare name or one with a standard suffix). */
function familyOfSample(sampleName: string, known: Set<string>): string | undefined {
  if (known.has(sampleName)) return sampleName;
  for (const suffix of SUFFIXES) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length);
      if (known.has(base)) return base;
    }
  }
  return undefined;
}

/**
 * `agent` followed by `extra`, where every family of `extra` (its HELP/TYPE lines and samples)
 * whose name the agent part already declares is left out, so no family appears twice.
 */
export function mergeExposition(agent: string, extra: string | null): MergeResult {
  const head = agent.length === 0 || agent.endsWith('\n') ? agent : `${agent}\n`;
  if (extra === null || extra.length === 0) return { text: head, dropped: [] };
  const taken = declaredFamilies(agent);
  const dropped = new Set<string>();
  const kept: string[] = [];
  let current: string | undefined;
  let skipping = false;
  for (const line of extra.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(?:HELP|TYPE)\s+(\S+)/.exec(line);
    if (meta?.[1]) {
      current = meta[1];
      skipping = taken.has(current);
      if (skipping) dropped.add(current);
      else kept.push(line);
      continue;
    }
    if (line.startsWith('#')) {
      if (!skipping) kept.push(line);
      continue;
    }
    const sampleName = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1] ?? '';
    const owner = familyOfSample(sampleName, taken);
    // A sample outside its declared family (or undeclared) is judged by its own name.
    const belongsToCurrent = current !== undefined && (sampleName === current || sampleName.startsWith(`${current}_`));
    if (belongsToCurrent ? skipping : owner !== undefined) {
      dropped.add(owner ?? current ?? sampleName);
      continue;
    }
    kept.push(line);
  }
  const tail = kept.length > 0 ? `${kept.join('\n')}\n` : '';
  return { text: head + tail, dropped: [...dropped].sort() };
}
