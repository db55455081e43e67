// One drop-in file's bytes -> its services, or the errors that reject it (never "zero services").
import { checkServicesInFile } from './check-services.js';
import { parseService, type RawService } from './parse-service.js';
import { validateWith, type Validators } from './schema-validate.js';
import type { Diagnostic, FileResult, HealthDefaults, Service } from './types.js';
import { decodeUtf8, locate, parseYaml, type PathSegment, type YamlSource } from './yaml-text.js';

export interface ParseDropInOptions {
  file: string;
  bytes: Uint8Array;
  validators: Validators;
  healthDefaults: HealthDefaults;
}

function fail(file: string, errors: Diagnostic[]): FileResult {
  return { file, ok: false, errors };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Services from already schema-valid entries at the given paths. */
export function buildServices(source: YamlSource, entries: { raw: RawService; path: PathSegment[] }[], healthDefaults: HealthDefaults): { services: Service[]; errors: Diagnostic[] } {
  const services: Service[] = [];
  const errors: Diagnostic[] = [];
  for (const entry of entries) {
    const parsed = parseService({ raw: entry.raw, source, path: entry.path, healthDefaults });
    if ('errors' in parsed) errors.push(...parsed.errors);
    else services.push(parsed.service);
  }
  if (errors.length === 0) errors.push(...checkServicesInFile(services));
  return { services, errors };
}

/**
 * A drop-in holds one service at its top level (`name: web` / `port: 8080`), or a list of
 * services under `services:`.
 */
export function parseDropIn(opts: ParseDropInOptions): FileResult {
  const { file } = opts;
  const decoded = decodeUtf8(file, opts.bytes);
  if ('error' in decoded) return fail(file, [decoded.error]);
  const parsed = parseYaml(file, decoded.text);
  if ('errors' in parsed) return fail(file, parsed.errors);
  const { source } = parsed;
  const value = source.value;
  if (value === null || value === undefined) {
    return fail(file, [{ file, line: 1, col: 1, severity: 'error', message: 'file is empty: a drop-in must define a service', hint: 'write at least "name: <service>" and "port: <1-65535>", or delete the file' }]);
  }
  if (!isMapping(value)) {
    const pos = locate(source, []);
    return fail(file, [{ file, line: pos.line, col: pos.col, severity: 'error', message: `a drop-in must be a mapping (a service, or "services:" with a list), not ${Array.isArray(value) ? 'a list' : 'a scalar'}` }]);
  }
  const entries: { raw: RawService; path: PathSegment[] }[] = [];
  const errors: Diagnostic[] = [];
  if ('services' in value) {
    const extra = Object.keys(value).filter((k) => k !== 'services');
    for (const key of extra) {
      const pos = locate(source, [key], 'key');
      errors.push({ file, line: pos.line, col: pos.col, severity: 'error', message: `unknown key "${key}" beside "services"`, hint: 'a file with a "services:" list holds nothing else' });
    }
    const list = value.services;
    if (!Array.isArray(list) || list.length === 0) {
      const pos = locate(source, ['services']);
      errors.push({ file, line: pos.line, col: pos.col, severity: 'error', message: '"services" must be a non-empty list of services' });
    } else {
      list.forEach((item, index) => {
        const problems = validateWith(opts.validators.service, item, source, ['services', index]);
        if (problems.length > 0) errors.push(...problems);
        else entries.push({ raw: item as RawService, path: ['services', index] });
      });
    }
  } else {
    const problems = validateWith(opts.validators.service, value, source);
    if (problems.length > 0) errors.push(...problems);
    else entries.push({ raw: value as unknown as RawService, path: [] });
  }
  if (errors.length > 0) return fail(file, errors);
  const built = buildServices(source, entries, opts.healthDefaults);
  if (built.errors.length > 0) return fail(file, built.errors);
  return { file, ok: true, services: built.services, warnings: [] };
}
