// Property-based fuzzing of parseDropIn: any bytes give a well-placed answer, generated drop-ins mean what their model says, hostile YAML is refused without hanging.
// FUZZ_SEED=<int> changes the seed (printed with every property); FUZZ_RUNS=<factor> scales the number of cases (e.g. 20 locally).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { parseDropIn } from '../src/config/parse-drop-in.js';
import { parseMainConfig } from '../src/config/parse-main.js';
import type { FileResult } from '../src/config/types.js';
import { dropInSpec, expectDropIn, serviceStartLines, writeDropIn } from './support/fuzz-drop-in-model.js';
import type { HangReport, HangWorkerData } from './support/fuzz-hang-worker.js';
import { assertCompleteSettings, assertFileResultContract, DROP_IN_DIR, loadPipeline, MAIN_FILE } from './support/fuzz-pipeline.js';
import { checksCoverage, fuzzConfig, runProperty } from './support/fuzz-run.js';
import { aliasDoc, blankFile, coralEnv, mutatedDropIn, rawBytes, unicodeText, utf8, VALID_MAIN_CONFIGS } from './support/fuzz-text-arbitraries.js';

const config = fuzzConfig();
const pipeline = loadPipeline();
const FILE = `${DROP_IN_DIR}/50-fuzz.yaml`;
const generated = dropInSpec(pipeline.healthDefaults);

function parse(bytes: Uint8Array): FileResult {
  return parseDropIn({ file: FILE, bytes, validators: pipeline.validators, healthDefaults: pipeline.healthDefaults });
}

function errorsOf(result: FileResult): string {
  return result.ok ? '(accepted)' : result.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('; ');
}

describe('parseDropIn under fuzzing', () => {
  test('any bytes: never throws; accepted with services, or errors at a line and column inside the file', (t) => {
    t.diagnostic(`seed ${config.seed}, scale ${config.scale} (override with FUZZ_SEED, FUZZ_RUNS)`);
    // Syntax errors' columns are not checked against line lengths here: malformed YAML can shift them (regression case below).
    const contract = (bytes: Uint8Array) => assertFileResultContract(parse(bytes), { file: FILE, bytes }, { syntaxErrorColumns: false });
    let cases = runProperty({ name: 'random bytes', runs: 1500, config, log: t, property: fc.property(rawBytes, contract) });
    cases += runProperty({ name: 'unicode text', runs: 1000, config, log: t, property: fc.property(unicodeText, contract) });
    cases += runProperty({ name: 'mutated drop-ins', runs: 2000, config, log: t, property: fc.property(mutatedDropIn(generated.map(writeDropIn)), contract) });
    t.diagnostic(`any bytes: ${cases} cases`);
  });

  test('coral.yaml, any bytes and any CORAL_* environment: never throws, complete settings, file errors placed in the file, environment errors at 0:0', (t) => {
    const main = fc.tuple(fc.oneof(rawBytes, mutatedDropIn(fc.constantFrom(...VALID_MAIN_CONFIGS)), fc.constantFrom(...VALID_MAIN_CONFIGS).map(utf8)), coralEnv);
    runProperty({
      name: 'coral.yaml and environment', runs: 1000, config, log: t,
      property: fc.property(main, ([bytes, env]) => {
        const parsed = parseMainConfig({ file: MAIN_FILE, bytes, validators: pipeline.validators, env });
        assertFileResultContract(parsed.result, { file: MAIN_FILE, bytes }, { syntaxErrorColumns: false, minServices: 0 });
        assertCompleteSettings(parsed.settings);
        for (const error of parsed.settingErrors) {
          // Not about a place in a file: the documented whole-source position 0:0, and the file names the variable.
          assert.match(error.file, /^environment variable CORAL_[A-Z_]+$/);
          assert.deepEqual([error.line, error.col], [0, 0]);
          assert.ok(error.message.length > 0);
        }
      }),
    });
  });

  test('an empty, blank or comment-only file is never accepted', (t) => {
    runProperty({
      name: 'blank files', runs: 500, config, log: t,
      property: fc.property(blankFile, (bytes) => {
        const result = parse(bytes);
        assertFileResultContract(result, { file: FILE, bytes });
        assert.equal(result.ok, false, 'a file with no content defined a service');
      }),
    });
  });

  test('anchors and aliases: never throw, and a file means the same as the file with its aliases written out', (t) => {
    let compared = 0;
    runProperty({
      name: 'anchors and aliases', runs: 800, config, log: t,
      property: fc.property(aliasDoc, ({ text, expanded }) => {
        const bytes = utf8(text);
        const result = parse(bytes);
        assertFileResultContract(result, { file: FILE, bytes });
        if (expanded === undefined) {
          assert.equal(result.ok, false, `an alias to no earlier anchor was accepted:\n${text}`);
          return;
        }
        compared++;
        const plain = parse(utf8(expanded));
        assert.equal(result.ok, plain.ok, `with aliases: ${errorsOf(result)}; written out: ${errorsOf(plain)}\n${text}`);
        if (result.ok && plain.ok) assert.deepEqual(result.services, plain.services);
        else if (!result.ok && !plain.ok) {
          const said = (r: typeof result) => (r.ok ? [] : r.errors.map((e) => `${e.line} ${e.message}`).sort());
          assert.deepEqual(said(result), said(plain), `aliases changed the errors:\n${text}`);
        }
      }),
    });
    t.diagnostic(`anchors and aliases: ${compared} compared with the written-out file`);
    if (checksCoverage(config)) assert.ok(compared > 0, 'the generator must produce files whose aliases all resolve');
  });

  test('generated drop-ins: accepted exactly when every part is valid, with the ports written; errors point at the faulty service', (t) => {
    const seen = { accepted: 0, rejected: 0 };
    runProperty({
      name: 'generated drop-ins', runs: 2500, config, log: t,
      property: fc.property(generated, (spec) => {
        const text = writeDropIn(spec);
        const bytes = utf8(text);
        const result = parse(bytes);
        assertFileResultContract(result, { file: FILE, bytes });
        const expected = expectDropIn(spec, text);
        if (expected.ok) {
          seen.accepted++;
          assert.ok(result.ok, `every part is valid, yet: ${errorsOf(result)}\n${text}`);
          const starts = serviceStartLines(spec, text);
          assert.deepEqual(
            result.services.map((s) => ({ name: s.name, ports: s.ports, exe: s.exe, type: s.type, health: s.health, line: s.source.line })),
            expected.services.map((s, i) => ({ name: s.name, ports: s.spans, exe: s.exe, type: s.type, health: s.health, line: starts[i] })),
            `accepted, but not as written:\n${text}`,
          );
          return;
        }
        seen.rejected++;
        assert.equal(result.ok, false, `a faulty drop-in was accepted:\n${text}`);
        if (result.ok) return;
        for (const error of result.errors) {
          assert.ok(expected.homes.some((h) => error.line >= h.from && error.line <= h.to), `error at line ${error.line} ("${error.message}") is outside the faulty parts (lines ${JSON.stringify(expected.homes)}):\n${text}`);
        }
        for (const home of expected.mustReport) {
          assert.ok(result.errors.some((e) => e.line >= home.from && e.line <= home.to), `nothing reported for the faulty part at lines ${home.from}-${home.to}: ${errorsOf(result)}\n${text}`);
        }
      }),
    });
    t.diagnostic(`generated drop-ins: ${seen.accepted} accepted, ${seen.rejected} rejected`);
    const total = seen.accepted + seen.rejected;
    if (checksCoverage(config)) assert.ok(seen.accepted >= total * 0.05 && seen.rejected >= total * 0.05, 'the generator must reach both valid and faulty files');
  });

  describe('regression cases', () => {
    test('a YAML error is placed at the line and column of the offending character', () => {
      const bytes = utf8('-\n--\ne: x\n');
      const result = parse(bytes);
      assertFileResultContract(result, { file: FILE, bytes });
      assert.equal(result.ok, false);
      const colon = result.ok ? undefined : result.errors.find((e) => e.message.includes('map-value-ind'));
      if (colon) assert.deepEqual([colon.line, colon.col], [3, 2], `"${colon.message}" is about the ":" of "e: x"`);
    });
  });

  // parseDropIn is synchronous, so a hang would block this thread's timers too: run it in a worker and stop that at a
  // deadline. The deadline is far above the normal run time (a few seconds): it tells a hang from a busy machine.
  const deadlineMs = Math.round(120_000 * Math.max(1, config.scale));
  test('hostile YAML: alias bombs are refused with an error about aliases, deep nesting is refused, and neither hangs', { timeout: deadlineMs + 30_000 }, async (t) => {
    const data: HangWorkerData = { config, bombRuns: 200, nestingRuns: 100 };
    const worker = new Worker(new URL('./support/fuzz-hang-worker.js', import.meta.url), { workerData: data });
    let timer: NodeJS.Timeout | undefined;
    try {
      const report = await new Promise<HangReport>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`parseDropIn did not get through the hostile inputs within ${deadlineMs} ms: one of them hangs it`)), deadlineMs);
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`the fuzz worker exited (${code}) without a report`)));
      });
      for (const line of report.lines) t.diagnostic(line);
      if (!report.ok) assert.fail(report.error);
      assert.ok(report.cases > 0);
    } finally {
      clearTimeout(timer);
      await worker.terminate();
    }
  });
});
