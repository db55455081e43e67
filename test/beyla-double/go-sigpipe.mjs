// Makes the double die of SIGPIPE on a write to a stdout or stderr that has no reader, as a Go program that never calls signal.Notify for SIGPIPE does.
//
// Go (os/file_unix.go epipecheck -> runtime sigpipe) turns EPIPE on fd 1 or 2 into death by SIGPIPE,
// whatever disposition it inherited. Node ignores SIGPIPE and reports EPIPE as an 'error' on
// process.stdout / process.stderr. Here that error resets SIGPIPE to its default (a listener added
// and removed: libuv then restores SIG_DFL) and sends it to this process, which then dies of it for
// real: its parent sees `signal === 'SIGPIPE'` (a shell shows 141). EPIPE on any other fd (a
// socket of its endpoints) stays a plain error, as in Go.

const SIGPIPE_EXIT = 128 + 13;

const dieOfSigpipe = () => {
  const noop = () => {};
  process.on('SIGPIPE', noop);
  process.off('SIGPIPE', noop);
  process.kill(process.pid, 'SIGPIPE');
  process.exit(SIGPIPE_EXIT); // not reached: the signal is delivered before kill(2) returns
};

/** Installs the behaviour on process.stdout and process.stderr; other write errors are ignored, as Go's slog does. */
export const dieOnBrokenStdio = () => {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (error.code === 'EPIPE') dieOfSigpipe();
    });
  }
};
