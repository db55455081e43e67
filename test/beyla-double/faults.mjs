// Parses the switchable misbehaviours of the double (FAKE_BEYLA_FAULT, FAKE_BEYLA_FAULT_FILE, x_test_double.fault).
import { readFileSync, renameSync, unlinkSync } from 'node:fs';

const seconds = (name, text) => {
  const value = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(value) || value < 0) {
    throw new Error(`fault ${name} needs a number of seconds, got ${JSON.stringify(text)}`);
  }
  return value;
};

const exitCode = (name, text) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new Error(`fault ${name} needs an exit code 0-255, got ${JSON.stringify(text)}`);
  return value;
};

/** Parses "crash-after=0.3:7,never-ready" (commas, spaces or newlines between items) into one object. */
export const parseFaults = (text) => {
  const faults = {};
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const [name, value] = item.split('=', 2);
    switch (name) {
      case 'crash-after': {
        const [after, code = '2'] = (value ?? '').split(':');
        faults.crashAfter = { seconds: seconds(name, after), code: exitCode(name, code) };
        break;
      }
      case 'never-ready': faults.neverReady = true; break;
      case 'hang-on-term': faults.hangOnTerm = true; break;
      case 'fatal-log': faults.fatalLogAfterSeconds = seconds(name, value); break;
      case 'fatal-log-on':
        if (!value) throw new Error('fault fatal-log-on needs the path of a file to wait for');
        faults.fatalLogOnFile = value;
        break;
      case 'log-burst-on': {
        const at = (value ?? '').lastIndexOf(':');
        const lines = Number((value ?? '').slice(at + 1));
        if (at <= 0 || !Number.isInteger(lines) || lines < 1) throw new Error(`fault log-burst-on needs PATH:LINES, got ${JSON.stringify(value)}`);
        faults.logBurstOn = { path: value.slice(0, at), lines };
        break;
      }
      case 'slow-start': faults.slowStartSeconds = seconds(name, value); break;
      case 'exit-at-start': faults.exitAtStart = exitCode(name, value); break;
      case 'fork-child':
        if (value !== 'pipes' && value !== 'devnull') throw new Error(`fault fork-child needs pipes or devnull, got ${JSON.stringify(value)}`);
        faults.forkChild = value;
        break;
      default: throw new Error(`unknown fault ${JSON.stringify(item)}`);
    }
  }
  return faults;
};

/**
 * Takes the fault file if there is one: renames it away first so that exactly one instance
 * (the next to start) gets it, then reads and deletes it.
 */
export const takeFaultFile = (path) => {
  if (!path) return '';
  const taken = `${path}.taken-${process.pid}`;
  try {
    renameSync(path, taken);
  } catch (error) {
    if (error.code === 'ENOENT') return '';
    throw error;
  }
  const text = readFileSync(taken, 'utf8');
  unlinkSync(taken);
  return text;
};
