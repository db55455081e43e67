// "1 file", "2 files": a count with its noun, for every CLI message that counts.
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
