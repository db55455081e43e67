// JSON Schema validation (ajv, 2020-12) with errors mapped to file:line:col, plain words and "did you mean".
import { createRequire } from 'node:module';
import type { Ajv2020 as Ajv2020Class, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import coralSchema from '../../schemas/coral.schema.json' with { type: 'json' };
import serviceSchema from '../../schemas/service.schema.json' with { type: 'json' };
import { didYouMean } from './did-you-mean.js';
import type { Diagnostic } from './types.js';
import { locate, type PathSegment, type YamlSource } from './yaml-text.js';

export { coralSchema, serviceSchema };

export interface Validators {
  main: ValidateFunction;
  service: ValidateFunction;
}

/** The ajv options; schemas/build-validators.mjs compiles ahead of time with the same. */
export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: true, allowUnionTypes: true } as const;

/**
 * Compile both schemas now; callers keep the result. ajv's compiler is loaded only here, so a
 * command that uses the validators built ahead of time (loadValidators) never pays for it.
 */
export function compileValidators(): Validators {
  const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Class };
  const ajv = new Ajv2020(AJV_OPTIONS);
  ajv.addSchema(serviceSchema);
  return {
    service: ajv.getSchema(serviceSchema.$id) as ValidateFunction,
    main: ajv.compile(coralSchema),
  };
}

/**
 * The validators compiled at build time (dist/schemas/validators.mjs, by `npm run build`); when
 * that module is absent (an unbuilt tree), the schemas are compiled now.
 */
export async function loadValidators(): Promise<Validators> {
  try {
    const url = new URL('../../schemas/validators.mjs', import.meta.url).href;
    const built = (await import(url)) as Validators;
    return { main: built.main, service: built.service };
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return compileValidators();
  }
}

function pathOf(instancePath: string): PathSegment[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((s) => {
    const unescaped = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(unescaped) ? Number(unescaped) : unescaped;
  });
}

export function dottedPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function typeWords(type: unknown): string {
  const words: Record<string, string> = { integer: 'an integer', string: 'a string', object: 'a mapping', array: 'a list', boolean: 'true or false', number: 'a number' };
  const list = Array.isArray(type) ? type : [type];
  return list.map((t) => words[String(t)] ?? String(t)).join(' or ');
}

function describe(error: ErrorObject): { message: string; hint?: string; at: 'key' | 'value'; extraPath?: PathSegment } {
  const name = dottedPath(pathOf(error.instancePath)) || 'the document';
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((error.parentSchema as { properties?: Record<string, unknown> }).properties ?? {});
      const guess = didYouMean(key, known);
      const where = error.instancePath === '' ? 'at the top level' : `in ${name}`;
      return {
        message: `unknown key "${key}" ${where}`,
        hint: guess ? `did you mean "${guess}"?` : `known keys: ${known.join(', ')}`,
        at: 'key',
        extraPath: key,
      };
    }
    case 'required': {
      const key = String((error.params as { missingProperty: string }).missingProperty);
      return { message: `${name === 'the document' ? 'the document' : name} is missing the required key "${key}"`, at: 'value' };
    }
    case 'type':
      return { message: `${name} must be ${typeWords((error.params as { type: unknown }).type)}, not ${show(error.data)}`, at: 'value', ...(description ? { hint: description } : {}) };
    case 'minimum':
    case 'maximum': {
      const s = error.parentSchema as { minimum?: number; maximum?: number };
      return { message: `${name} is ${show(error.data)}, outside ${s.minimum ?? '-inf'}-${s.maximum ?? 'inf'}`, at: 'value' };
    }
    case 'enum': {
      const allowed = ((error.params as { allowedValues: unknown[] }).allowedValues).map(String);
      const guess = typeof error.data === 'string' ? didYouMean(error.data, allowed) : undefined;
      return { message: `${name} is ${show(error.data)}; expected one of ${allowed.join(', ')}`, at: 'value', ...(guess ? { hint: `did you mean "${guess}"?` } : {}) };
    }
    case 'minItems':
      return { message: `${name} is an empty list`, at: 'value', ...(description ? { hint: description } : {}) };
    case 'anyOf':
    case 'pattern':
    case 'minLength':
    default:
      return {
        message: `${name} is not valid: ${show(error.data)}`,
        at: 'value',
        ...(description ? { hint: description } : {}),
      };
  }
}

/**
 * An anyOf error stands for its branches. When the value's type fits exactly one branch, that
 * branch's own complaints are the useful ones (an unknown key with "did you mean", a bad enum);
 * otherwise the anyOf error is reported alone, in words, not each branch's complaint.
 */
function pickErrors(errors: readonly ErrorObject[]): { error: ErrorObject; hint?: string }[] {
  const drop = new Set<ErrorObject>();
  const hints = new Map<ErrorObject, string>();
  for (const anyOf of errors.filter((e) => e.keyword === 'anyOf')) {
    const at = anyOf.instancePath;
    const inside = errors.filter((e) => e !== anyOf && (e.instancePath === at || e.instancePath.startsWith(`${at}/`)));
    const typeMisses = inside.filter((e) => e.instancePath === at && e.keyword === 'type');
    const branches = Array.isArray(anyOf.schema) ? anyOf.schema.length : 0;
    if (branches > 1 && typeMisses.length === branches - 1 && inside.length > typeMisses.length) {
      drop.add(anyOf);
      for (const e of typeMisses) drop.add(e);
      const description = (anyOf.parentSchema as { description?: string } | undefined)?.description;
      if (description) for (const e of inside) hints.set(e, description);
    } else {
      for (const e of inside) drop.add(e);
    }
  }
  return errors.filter((e) => !drop.has(e)).map((error) => {
    const hint = hints.get(error);
    return hint === undefined ? { error } : { error, hint };
  });
}

/** Validate data from a YAML source; each error placed at its key or value. `prefix` maps the data into the document. */
export function validateWith(validate: ValidateFunction, data: unknown, source: YamlSource, prefix: readonly PathSegment[] = []): Diagnostic[] {
  if (validate(data)) return [];
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const { error, hint: branchHint } of pickErrors(validate.errors ?? [])) {
    const info = describe(error);
    const rel = pathOf(error.instancePath);
    const path = info.extraPath === undefined ? [...prefix, ...rel] : [...prefix, ...rel, info.extraPath];
    const key = `${dottedPath(path)}|${error.keyword}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const pos = locate(source, path, info.at);
    const shownPath = dottedPath([...prefix, ...rel]);
    const message = prefix.length > 0 && shownPath ? info.message.replace(dottedPath(rel) || 'the document', shownPath) : info.message;
    const hint = info.hint ?? branchHint;
    out.push({
      file: source.file, line: pos.line, col: pos.col, severity: 'error', message,
      path: dottedPath(path),
      ...(hint ? { hint } : {}),
    });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}
