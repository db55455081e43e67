// The health edge: TCP/HTTP checks of configured services.
export {
  HealthMonitor,
  type HealthMonitorEvents,
  type HealthMonitorOptions,
  type HealthState,
  type ServiceHealth,
} from './health-monitor.js';
export { checkTcp, type TcpCheckOptions } from './check-tcp.js';
export { checkHttp, type HttpCheckOptions } from './check-http.js';
