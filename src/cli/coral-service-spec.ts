// `NAME:PORT[:HEALTH][:TYPE]` plus --ports/--exe/--health/--type -> the service mapping, and the drop-in text for it.
import serviceSchema from '../../schemas/service.schema.json' with { type: 'json' };
import { CoralError } from '../errors.js';
import { DROP_IN_HEADER } from '../store/drop-in-header.js';

export const SPEC_SYNTAX = 'NAME:PORT[:HEALTH][:TYPE], e.g. frontend:3000:http:/healthz:http';

export { DROP_IN_HEADER };

/** The service as it will be written (the drop-in's single-service form). */
export interface ServiceSpec {
  name: string;
  port?: number;
  ports?: (number | string)[];
  exe?: string;
  health?: string;
  type?: string;
}

export interface SpecFlags {
  ports?: string | undefined;
  exe?: string | undefined;
  health?: string | undefined;
  type?: string | undefined;
}

const NAME_PATTERN = new RegExp(serviceSchema.properties.name.pattern);
const TYPES: readonly string[] = serviceSchema.properties.type.enum;
const HEALTH_KINDS = ['tcp', 'none', 'http'];

/** Whether `name` can be a service (and so a file name in services.d): a lowercase DNS label. */
export function isServiceName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

function usage(message: string, hint = `write ${SPEC_SYNTAX}`): CoralError {
  return new CoralError('USAGE', message, { hint });
}

/** "8080,9000-9010" -> [8080, "9000-9010"]; the schema judges the items. */
function portItems(text: string, where: string): (number | string)[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw usage(`${where}: "${text}" has an empty port`, 'write ports and ranges separated by commas, e.g. 8080,9000-9010');
  return items.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The health and type tokens after NAME:PORT. `http:/path` spans two tokens. */
function splitTail(tokens: string[]): { health?: string; type?: string } {
  const out: { health?: string; type?: string } = {};
  let i = 0;
  const first = tokens[0];
  if (first === 'http' && tokens[1]?.startsWith('/')) {
    out.health = `http:${tokens[1]}`;
    i = 2;
  } else if (first !== undefined && (HEALTH_KINDS.includes(first) || first === '')) {
    if (first !== '') out.health = first;
    i = 1;
  } else if (first !== undefined && TYPES.includes(first) && tokens.length === 1) {
    return { type: first }; // `api:9000:grpc`: a type where the health would be, and unambiguous
  } else if (first !== undefined) {
    throw usage(`"${first}" is not a health check`, 'HEALTH is tcp, none, http or http:/path');
  }
  const rest = tokens.slice(i);
  if (rest.length > 1) throw usage(`too many parts after the type: "${rest.slice(1).join(':')}"`, `write ${SPEC_SYNTAX}; use --health for a path with ":"`);
  if (rest[0]) out.type = rest[0];
  return out;
}

export function parseServiceSpec(spec: string, flags: SpecFlags): ServiceSpec {
  const [name = '', portText, ...tail] = spec.split(':');
  if (name === '') throw usage(`"${spec}" has no service name`);
  const out: ServiceSpec = { name };
  if (portText !== undefined && portText !== '' && flags.ports !== undefined) {
    throw usage(`ports given twice: "${portText}" in ${spec} and --ports ${flags.ports}`, 'give the ports in one place');
  }
  if (portText !== undefined && portText !== '') {
    const items = portItems(portText, spec);
    if (items.length === 1 && typeof items[0] === 'number') out.port = items[0];
    else out.ports = items;
  } else if (flags.ports !== undefined) {
    out.ports = portItems(flags.ports, '--ports');
  } else {
    throw usage(`no port for service "${name}"`, `write ${name}:PORT or --ports 8080,9000-9010`);
  }
  const parsedTail = splitTail(tail);
  if (parsedTail.health !== undefined && flags.health !== undefined) throw usage(`health given twice: "${parsedTail.health}" and --health ${flags.health}`, 'give it in one place');
  if (parsedTail.type !== undefined && flags.type !== undefined) throw usage(`type given twice: "${parsedTail.type}" and --type ${flags.type}`, 'give it in one place');
  const health = parsedTail.health ?? flags.health;
  const type = parsedTail.type ?? flags.type;
  if (flags.exe !== undefined) out.exe = flags.exe;
  if (health !== undefined) out.health = health;
  if (type !== undefined) out.type = type;
  return out;
}

/** Plain YAML when it cannot be misread, else a double-quoted (JSON) string. */
function scalar(text: string): string {
  return /^[A-Za-z0-9_./-][A-Za-z0-9_./:-]*$/.test(text) && !/^(true|false|null|yes|no|on|off|~)$/i.test(text) && !/^[\d.]/.test(text)
    ? text
    : JSON.stringify(text);
}

export function renderDropIn(spec: ServiceSpec): string {
  const lines = [DROP_IN_HEADER, `name: ${scalar(spec.name)}`];
  if (spec.port !== undefined) lines.push(`port: ${spec.port}`);
  if (spec.ports !== undefined) lines.push(`ports: [${spec.ports.map((p) => (typeof p === 'number' ? String(p) : JSON.stringify(p))).join(', ')}]`);
  if (spec.exe !== undefined) lines.push(`exe: ${scalar(spec.exe)}`);
  if (spec.health !== undefined) lines.push(`health: ${scalar(spec.health)}`);
  if (spec.type !== undefined) lines.push(`type: ${scalar(spec.type)}`);
  return `${lines.join('\n')}\n`;
}
