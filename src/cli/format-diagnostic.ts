// Diagnostics as people read them: `path:line:col: severity: message` and an indented hint.
import type { Diagnostic } from '../config/types.js';

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file;
  const head = `${where}: ${d.severity}: ${d.message}`;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}
