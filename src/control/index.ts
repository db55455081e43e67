// The control edge: the unix-socket API the daemon serves and the client the CLI uses.
export {
  startControlServer,
  type ControlHandlers,
  type ControlServer,
  type ControlServerOptions,
  type ReloadOutcome,
} from './start-control-server.js';
export { controlRequest, type ControlRequestOptions, type ControlResponse } from './control-request.js';
export { lookupGroupId } from './lookup-group-id.js';
export { prepareSocketPath } from './prepare-socket-path.js';
