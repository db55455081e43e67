// `coral status --watch`: redraws a frame in place on a terminal (no clearing, so no flicker) or prints each changed frame on a pipe; ends on q, Ctrl-C or a signal.
import { hostname } from 'node:os';

export interface WatchOptions {
  /** Time between the end of one fetch and the start of the next. */
  intervalMs: number;
  /** The lines of one frame; a rejection is shown as the frame (the agent may be restarting). */
  render: () => Promise<string[]>;
  /** How a failed render reads (default: the error's message). */
  describeError?: (error: unknown) => string;
  /** Title of the header line on a terminal ("coral status"). */
  title: string;
  /** On a pipe: print a `--- time` line before each frame (false for JSON Lines). */
  plainHeader?: boolean;
  output: NodeJS.WriteStream;
  input: NodeJS.ReadStream;
  now?: () => Date;
}

const ESC = '\x1b[';
const ENTER = `${ESC}?1049h${ESC}?25l${ESC}2J`; // alternate screen, hide cursor, clear once (each frame homes the cursor)
const LEAVE = `${ESC}?25h${ESC}?1049l`; // show cursor, back to the normal screen
const QUIT_KEYS = new Set(['q', 'Q', '\x03']); // \x03: Ctrl-C, a byte in raw mode

/** The terminal frame: cursor home, each line cut to the width and cleared to its end, the rest of the screen cleared. */
export function drawFrame(lines: string[], columns: number | undefined, rows: number | undefined): string {
  const width = columns && columns > 0 ? columns : Infinity;
  const height = rows && rows > 0 ? rows : Infinity;
  const shown = lines.slice(0, height).map((line) => (line.length > width ? line.slice(0, width) : line));
  return `${ESC}H${shown.map((line) => `${line}${ESC}K`).join('\n')}${ESC}J`;
}

/** The header line: title and interval on the left, host and time on the right, as watch(1) does. */
export function headerLine(title: string, intervalMs: number, at: Date, columns: number | undefined): string {
  const left = `Every ${intervalMs / 1000}s: ${title}`;
  const right = `${hostname()}: ${at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`;
  const width = columns && columns > 0 ? columns : 0;
  const gap = Math.max(2, width - left.length - right.length);
  return `${left}${' '.repeat(gap)}${right}`;
}

/** Runs until q / Ctrl-C (on a terminal) or SIGINT, SIGTERM, SIGHUP; resolves with exit code 0. */
export async function watchStatus(opts: WatchOptions): Promise<number> {
  const { output, input } = opts;
  const now = opts.now ?? (() => new Date());
  const describe = opts.describeError ?? ((error: unknown) => (error instanceof Error ? error.message : String(error)));
  const tty = output.isTTY === true;
  const keys = input.isTTY === true;
  const quit = new AbortController();
  const stop = (): void => quit.abort();
  const onKey = (chunk: Buffer | string): void => {
    if ([...chunk.toString()].some((c) => QUIT_KEYS.has(c))) stop();
  };
  let last: string[] = [];
  const redraw = (): void => {
    const header = headerLine(opts.title, opts.intervalMs, now(), output.columns);
    output.write(drawFrame([header, '', ...last], output.columns, output.rows));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, stop);
  if (keys) {
    input.setRawMode(true);
    input.on('data', onKey);
    input.resume();
  }
  if (tty) {
    output.write(ENTER);
    output.on('resize', redraw);
  }
  let previous: string | undefined;
  try {
    while (!quit.signal.aborted) {
      let lines: string[];
      try {
        lines = await opts.render();
      } catch (error) {
        lines = [describe(error)];
      }
      if (quit.signal.aborted) break;
      last = lines;
      if (tty) {
        redraw();
      } else {
        const text = lines.join('\n');
        if (text !== previous) {
          output.write(`${opts.plainHeader === false ? '' : `--- ${now().toISOString()}\n`}${text}\n`);
          previous = text;
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, opts.intervalMs);
        function done(): void {
          clearTimeout(timer);
          quit.signal.removeEventListener('abort', done);
          resolve();
        }
        quit.signal.addEventListener('abort', done);
      });
    }
  } finally {
    for (const signal of signals) process.off(signal, stop);
    if (keys) {
      input.off('data', onKey);
      input.setRawMode(false);
      input.pause();
    }
    if (tty) {
      output.off('resize', redraw);
      output.write(LEAVE);
    }
  }
  return 0;
}
