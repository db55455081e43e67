// Reads and validates a Beyla YAML file the way Beyla v3.31 does, as far as coral-agent can tell.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { compileGlob, GlobError } from './glob.mjs';

// Resolved from this file's real location (node_modules up the tree), then NODE_PATH.
const YAML = createRequire(import.meta.url)('yaml');

const PORTS_PATTERN = /^\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*$/;
const DURATION_PATTERN = /^(\d*\.?\d+(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The error Beyla reports as `msg="wrong configuration"` before exiting 255. */
export class WrongConfiguration extends Error {}

/** Parses a Go duration ("100ms", "1m30s"); a bare YAML number counts as nanoseconds, like Go. */
export const parseDurationMs = (value, { key, defaultMs }) => {
  if (value === undefined || value === null) return defaultMs;
  if (typeof value === 'number') return value / 1e6;
  const text = String(value).trim();
  if (text === '0') return 0;
  if (!DURATION_PATTERN.test(text)) throw new WrongConfiguration(`${key}: time: invalid duration "${text}"`);
  let totalMs = 0;
  for (const [, amount, unit] of text.matchAll(/(\d*\.?\d+)(ns|us|µs|ms|s|m|h)/g)) totalMs += Number(amount) * UNIT_MS[unit];
  return totalMs;
};

/** Turns an open_ports value (string "80,8080-8089", an int, or a list of ints) into ranges. */
export const parsePorts = (value, key) => {
  if (Number.isInteger(value)) return [{ from: value, to: value }];
  if (Array.isArray(value)) {
    if (!value.every(Number.isInteger)) throw new WrongConfiguration(`${key}: invalid port list ${JSON.stringify(value)}`);
    return value.map((port) => ({ from: port, to: port }));
  }
  if (typeof value !== 'string' || !PORTS_PATTERN.test(value)) {
    throw new WrongConfiguration(`${key}: invalid port number or range ${JSON.stringify(value)}`);
  }
  return value.split(',').map((part) => {
    const [from, to = from] = part.split('-').map((bound) => Number(bound.trim()));
    return { from, to };
  });
};

/** Canonical form of a set of ranges: sorted, overlapping or adjacent ones merged, "a" or "a-b" joined by ",". */
export const normalizePorts = (ranges) => {
  const merged = [];
  for (const { from, to } of [...ranges].sort((a, b) => a.from - b.from || a.to - b.to)) {
    const last = merged.at(-1);
    if (last && from <= last.to + 1) last.to = Math.max(last.to, to);
    else merged.push({ from, to });
  }
  return merged.map(({ from, to }) => (from === to ? `${from}` : `${from}-${to}`)).join(',');
};

/** exe_path as Beyla compiles it while decoding the YAML: a glob gobwas refuses is a wrong configuration. */
const globToRegExp = (glob) => {
  try {
    return compileGlob(glob);
  } catch (error) {
    if (!(error instanceof GlobError)) throw error;
    throw new WrongConfiguration(`parsing YAML configuration: invalid regular expression in node !!str: ${error.message}`);
  }
};

const parseSelector = (entry, key) => {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new WrongConfiguration(`${key}: each entry must be a mapping`);
  }
  const hasPorts = entry.open_ports !== undefined && entry.open_ports !== null;
  const hasExe = typeof entry.exe_path === 'string' && entry.exe_path !== '';
  return {
    name: typeof entry.name === 'string' ? entry.name : undefined,
    openPortsText: hasPorts ? (Array.isArray(entry.open_ports) ? entry.open_ports.join(',') : String(entry.open_ports)) : undefined,
    ranges: hasPorts ? parsePorts(entry.open_ports, `${key}.open_ports`) : undefined,
    exePath: hasExe ? entry.exe_path : undefined,
    exeMatcher: hasExe ? globToRegExp(entry.exe_path) : undefined,
  };
};

const parseSelectors = (list, key) => {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new WrongConfiguration(`${key}: must be a list of selectors`);
  return list.map((entry, index) => parseSelector(entry, `${key}[${index}]`));
};

/** Selectors that Beyla adds from its own environment (BEYLA_OPEN_PORT, BEYLA_AUTO_TARGET_EXE). */
const envSelectors = (env) => [
  ...(env.BEYLA_OPEN_PORT ? [parseSelector({ open_ports: env.BEYLA_OPEN_PORT }, 'BEYLA_OPEN_PORT')] : []),
  ...(env.BEYLA_AUTO_TARGET_EXE ? [parseSelector({ exe_path: env.BEYLA_AUTO_TARGET_EXE }, 'BEYLA_AUTO_TARGET_EXE')] : []),
];

const optionalPort = (value, key) => {
  if (value === undefined || value === null || value === 0) return undefined;
  if (!Number.isInteger(value)) throw new WrongConfiguration(`${key}: cannot unmarshal ${JSON.stringify(value)} into int`);
  return value;
};

const hasOtlpExport = (doc, env) => Boolean(
  doc.otel_metrics_export?.endpoint || doc.otel_traces_export?.endpoint
  || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
);

/** Which file to read: BEYLA_CONFIG_PATH wins over `-config FILE` / `--config FILE` / `-config=FILE`. */
export const configPathFrom = ({ argv, env }) => {
  if (env.BEYLA_CONFIG_PATH) return env.BEYLA_CONFIG_PATH;
  for (const [index, arg] of argv.entries()) {
    const match = /^--?config(?:=(.*))?$/.exec(arg);
    if (match) return match[1] ?? argv[index + 1];
  }
  return undefined;
};

/** The first flag Go's flag package would refuse ("-version"), or undefined; only -config is defined, parsing stops at "--" or a non-flag. */
export const unknownFlag = (argv) => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--' || !arg.startsWith('-') || arg === '-') return undefined;
    const name = arg.replace(/^--?/, '').split('=')[0];
    if (name !== 'config') return `-${name}`;
    if (!arg.includes('=')) i++;
  }
  return undefined;
};

/** Expands `${VAR}` from the environment (unset means empty), as Beyla does before parsing. */
export const expandEnv = (text, env) => text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name) => env[name] ?? '');

/** Loads the config Beyla would run with, or throws WrongConfiguration. */
export const loadConfig = ({ argv, env }) => {
  const path = configPathFrom({ argv, env });
  if (!path) throw new WrongConfiguration('no configuration file given: use -config FILE or BEYLA_CONFIG_PATH');
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WrongConfiguration(`reading configuration: open ${path}: ${error.code === 'ENOENT' ? 'no such file or directory' : error.message}`);
  }
  let doc;
  try {
    doc = YAML.parse(expandEnv(text, env)) ?? {};
  } catch (error) {
    throw new WrongConfiguration(`reading YAML configuration: yaml: ${error.message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new WrongConfiguration('reading YAML configuration: yaml: top level is not a mapping');
  const discovery = doc.discovery;
  if (discovery === undefined || discovery === null || typeof discovery !== 'object') {
    throw new WrongConfiguration('missing discovery section: define discovery > instrument, BEYLA_OPEN_PORT or BEYLA_AUTO_TARGET_EXE');
  }
  const instrumentKey = discovery.instrument !== undefined ? 'discovery.instrument' : 'discovery.services';
  const selectors = [...parseSelectors(discovery.instrument ?? discovery.services, instrumentKey), ...envSelectors(env)];
  if (selectors.length === 0) throw new WrongConfiguration('discovery has no selector: define discovery > instrument, BEYLA_OPEN_PORT or BEYLA_AUTO_TARGET_EXE');
  const excludes = parseSelectors(discovery.exclude_instrument ?? discovery.exclude_services, 'discovery.exclude_instrument');

  const metricsPort = optionalPort(doc.prometheus_export?.port, 'prometheus_export.port');
  if (metricsPort === undefined && !hasOtlpExport(doc, env)) {
    throw new WrongConfiguration('at least one exporter must be defined: prometheus_export, otel_metrics_export or otel_traces_export');
  }
  const internal = doc.internal_metrics;
  const internalPort = internal?.exporter === 'prometheus' ? optionalPort(internal.prometheus?.port, 'internal_metrics.prometheus.port') : undefined;
  const healthPort = optionalPort(doc.health_check?.port, 'health_check.port');
  const fault = doc.x_test_double?.fault;
  const loadMs = doc.x_test_double?.ebpf_load_ms ?? env.FAKE_BEYLA_EBPF_LOAD_MS;

  return {
    path,
    selectors,
    excludes,
    normalizedOpenPorts: normalizePorts(selectors.flatMap((selector) => selector.ranges ?? [])),
    pollIntervalMs: parseDurationMs(discovery.poll_interval, { key: 'discovery.poll_interval', defaultMs: 5000 }),
    minProcessAgeMs: parseDurationMs(discovery.min_process_age, { key: 'discovery.min_process_age', defaultMs: 5000 }),
    shutdownTimeoutMs: parseDurationMs(doc.shutdown_timeout, { key: 'shutdown_timeout', defaultMs: 10_000 }),
    metrics: metricsPort === undefined ? undefined : { port: metricsPort, path: doc.prometheus_export.path || '/metrics' },
    health: healthPort === undefined ? undefined : { port: healthPort },
    internal: internalPort === undefined ? undefined : { port: internalPort, path: internal.prometheus.path || '/internal/metrics' },
    // How long loading and attaching the eBPF programs takes before the first process is instrumented (real hosts: seconds).
    ebpfLoadMs: Number.isFinite(Number(loadMs)) && Number(loadMs) > 0 ? Number(loadMs) : 0,
    faultText: Array.isArray(fault) ? fault.join(',') : typeof fault === 'string' ? fault : '',
    // As Beyla: the signal's variable (over the file's endpoint), else the common one plus /v1/<signal>.
    tracesEndpoint: otlpEndpoint({ env, doc, signal: 'traces' }),
    metricsEndpoint: otlpEndpoint({ env, doc, signal: 'metrics' }),
    tracesJson: otlpProtocol({ env, doc, signal: 'traces' }) === 'http/json',
    metricsJson: otlpProtocol({ env, doc, signal: 'metrics' }) === 'http/json',
  };
};

/** A signal's OTLP endpoint as Beyla resolves it. */
const otlpEndpoint = ({ env, doc, signal }) => env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`] || doc[`otel_${signal}_export`]?.endpoint
  || (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/${signal}` : undefined);

/** A signal's OTLP protocol: its own variable, the file's key, then the common variable. */
const otlpProtocol = ({ env, doc, signal }) => env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`] || doc[`otel_${signal}_export`]?.protocol
  || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
