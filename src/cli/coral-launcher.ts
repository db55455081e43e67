// `coral` as the package runs it, bundled to CommonJS (dist/bundle/cli/coral.cjs): connect and disconnect ask the running agent without starting Node's ES module loader (a third of Node's own start-up); anything else, and every fallback, loads the full CLI.
import { editFastPath } from './edit-fast-path.js';
import { finish, runCommand } from './main.js';

async function launch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'connect' || name === 'disconnect') {
    let decided = true;
    const code = await runCommand('coral', async (args, io) => {
      const answered = await editFastPath(name, args, io);
      decided = answered !== undefined;
      return answered ?? 0;
    }, rest);
    if (decided) return code;
  }
  return (await import('./coral.js')).main(argv, { fast: false });
}

launch(process.argv.slice(2)).then(finish, (error: unknown) => {
  process.stderr.write(`coral: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  finish(70);
});
