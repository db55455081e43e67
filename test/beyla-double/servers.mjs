// The double's HTTP endpoints: Prometheus export (all interfaces), internal metrics, and /healthz on loopback.
import { createServer } from 'node:http';

const listenError = (error, port) => {
  if (error.code === 'EADDRINUSE') return `listen tcp :${port}: bind: address already in use`;
  if (error.code === 'EACCES') return `listen tcp :${port}: bind: permission denied`;
  return `listen tcp :${port}: ${error.message}`;
};

/** An HTTP server answering the given routes; `hang` routes never answer. */
const routeServer = (routes) => createServer((request, response) => {
  const route = routes.get(new URL(request.url ?? '/', 'http://localhost').pathname);
  if (!route || request.method !== 'GET') {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
    return;
  }
  if (route.hang) return;
  const { type, body } = route.render();
  response.writeHead(200, { 'content-type': type }).end(body);
});

const listen = (server, { port, host }) => new Promise((resolve, reject) => {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    reject(Object.assign(new Error(`address ${port}: invalid port`), { code: 'EINVALPORT' }));
    return;
  }
  server.once('error', reject);
  server.listen({ port, host }, () => {
    server.off('error', reject);
    resolve();
  });
});

const healthBody = () => {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const uptimeNs = BigInt(Math.round(process.uptime() * 1e9));
  return { type: 'application/json', body: `{"schema_version":1,"now_unix_ns":${nowNs},"process_uptime_ns":${uptimeNs}}\n` };
};

/**
 * Starts the endpoints. A Prometheus or internal-metrics port that cannot be bound calls
 * `onPrometheusFailure({component, error})`, which must end the process (Beyla exits 0 then);
 * a health port that cannot be bound is logged only.
 */
export const startServers = async ({ config, log, neverReady, renderExport, renderInternal, onPrometheusFailure }) => {
  const servers = [];
  const metricsRoutes = new Map();
  if (config.metrics) metricsRoutes.set(config.metrics.path, { render: () => ({ type: 'text/plain; version=0.0.4', body: renderExport() }) });
  const internalRoute = { render: () => ({ type: 'text/plain; version=0.0.4', body: renderInternal() }) };
  const sharedPort = config.internal && config.metrics && config.internal.port === config.metrics.port;
  if (sharedPort) metricsRoutes.set(config.internal.path, internalRoute);

  const prometheusTargets = [
    ...(config.metrics ? [{ port: config.metrics.port, routes: metricsRoutes, component: 'connector.PrometheusManager' }] : []),
    ...(config.internal && !sharedPort
      ? [{ port: config.internal.port, routes: new Map([[config.internal.path, internalRoute]]), component: 'imetrics.PrometheusReporter' }]
      : []),
  ];
  for (const { port, routes, component } of prometheusTargets) {
    const server = routeServer(routes);
    try {
      await listen(server, { port });
    } catch (error) {
      servers.forEach((each) => each.close());
      return onPrometheusFailure({ component, error: listenError(error, port) });
    }
    servers.push(server);
    log.info('opening prometheus scrape endpoint', { component, port, path: [...routes.keys()].join(',') });
  }

  if (config.health) {
    const server = routeServer(new Map([['/healthz', neverReady ? { hang: true } : { render: healthBody }]]));
    try {
      await listen(server, { port: config.health.port, host: '127.0.0.1' });
      servers.push(server);
    } catch (error) {
      log.error("can't bind health endpoint", { component: 'health', port: config.health.port, err: listenError(error, config.health.port) });
    }
  }

  return {
    close: () => {
      for (const server of servers) {
        server.close();
        server.closeAllConnections();
      }
    },
  };
};
