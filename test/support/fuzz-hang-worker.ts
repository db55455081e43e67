// Worker thread for the fuzz tests: feeds parseDropIn the inputs that could hang it, so the test can stop it at a deadline.
import assert from 'node:assert/strict';
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { parseDropIn } from '../../src/config/parse-drop-in.js';
import { assertFileResultContract, DROP_IN_DIR, loadPipeline } from './fuzz-pipeline.js';
import { runProperty, type FuzzConfig } from './fuzz-run.js';
import { aliasBomb, deepNesting, utf8 } from './fuzz-text-arbitraries.js';

export type HangReport =
  | { ok: true; cases: number; lines: string[] }
  | { ok: false; error: string; lines: string[] };

export interface HangWorkerData {
  config: FuzzConfig;
  /** Cases at FUZZ_RUNS=1 for each of the two properties. */
  bombRuns: number;
  nestingRuns: number;
}

function runHostileProperties(data: HangWorkerData): HangReport {
  const lines: string[] = [];
  const log = { diagnostic: (message: string) => lines.push(message) };
  const pipeline = loadPipeline();
  const file = `${DROP_IN_DIR}/90-hostile.yaml`;
  const parse = (bytes: Uint8Array) => parseDropIn({ file, bytes, validators: pipeline.validators, healthDefaults: pipeline.healthDefaults });
  try {
    let cases = runProperty({
      name: 'alias bombs',
      runs: data.bombRuns,
      config: data.config,
      log,
      property: fc.property(aliasBomb, (bomb) => {
        const bytes = utf8(bomb.text);
        const result = parse(bytes);
        assertFileResultContract(result, { file, bytes });
        assert.ok(!result.ok, `a ${bomb.width}^${bomb.depth} alias bomb was accepted`);
        assert.ok(result.errors.some((e) => /alias/i.test(e.message)), `a ${bomb.width}^${bomb.depth} alias bomb was refused, but no error mentions aliases: ${JSON.stringify(result.errors.map((e) => e.message))}`);
      }),
    });
    cases += runProperty({
      name: 'deep nesting',
      runs: data.nestingRuns,
      config: data.config,
      log,
      property: fc.property(deepNesting, (bytes) => {
        const result = parse(bytes);
        assertFileResultContract(result, { file, bytes });
        assert.ok(!result.ok, 'a deeply nested value is never a valid service');
      }),
    });
    return { ok: true, cases, lines };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error), lines };
  }
}

if (parentPort) parentPort.postMessage(runHostileProperties(workerData as HangWorkerData));
