// Checks within one file: service names unique and no two services sharing a port.
import { firstOverlap } from './ports.js';
import type { Diagnostic, Service } from './types.js';

export function checkServicesInFile(services: readonly Service[]): Diagnostic[] {
  const errors: Diagnostic[] = [];
  services.forEach((service, i) => {
    for (const earlier of services.slice(0, i)) {
      const at = { file: service.source.file, line: service.source.line, col: service.source.col, severity: 'error' as const };
      if (earlier.name === service.name) {
        errors.push({ ...at, message: `service "${service.name}" is defined twice in this file (first at line ${earlier.source.line})`, hint: 'service names must be unique' });
        continue;
      }
      const port = firstOverlap(earlier.ports, service.ports);
      if (port !== undefined) {
        errors.push({ ...at, message: `port ${port} of service "${service.name}" is already used by "${earlier.name}" (line ${earlier.source.line})`, hint: 'each port belongs to one service' });
      }
    }
  });
  return errors;
}
