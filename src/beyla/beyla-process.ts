// What the supervisor needs of one Beyla process, whether it started it (BeylaInstance) or adopted it from a previous agent (AdoptedInstance).
import type { BeylaInstance } from './beyla-instance.js';

export type BeylaProcess = Pick<BeylaInstance,
  'generation' | 'ports' | 'configFile' | 'startedAt' | 'pid' | 'digest' | 'adopted' | 'exited' | 'exit' | 'running'
  | 'instrumented' | 'version' | 'fatalLine' | 'stop' | 'kill' | 'describeExit' | 'beylaError' | 'recentErrors'> & {
  /** Its first fatal line, once (both kinds read their output). */
  on(event: 'fatal', listener: (line: string) => void): unknown;
};
