// Prometheus text for the double's two scrape endpoints: the application export and Beyla's internal metrics.

const escapeLabel = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (pairs) => `{${Object.entries(pairs).map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(',')}}`;

/** prometheus_export: who this instance is, plus one application-like counter per instrumented process. */
export const exportText = ({ normalizedOpenPorts, pid, instrumented }) => {
  const lines = [
    '# HELP beyla_double_info Identifies a running Beyla test double.',
    '# TYPE beyla_double_info gauge',
    `beyla_double_info${labels({ open_ports: normalizedOpenPorts, pid })} 1`,
    '# HELP http_server_request_duration_seconds Duration of HTTP service calls from the server side, in seconds.',
    '# TYPE http_server_request_duration_seconds histogram',
  ];
  for (const entry of instrumented.values()) {
    const series = {
      http_request_method: 'GET', http_response_status_code: '200', http_route: '/',
      server_port: entry.ports[0], service_name: entry.service,
    };
    lines.push(
      `http_server_request_duration_seconds_bucket${labels({ ...series, le: '+Inf' })} ${entry.polls}`,
      `http_server_request_duration_seconds_sum${labels(series)} ${(entry.polls * 0.002).toFixed(3)}`,
      `http_server_request_duration_seconds_count${labels(series)} ${entry.polls}`,
    );
  }
  return `${lines.join('\n')}\n`;
};

/** internal_metrics: instrumented processes by name, and build info. */
export const internalText = ({ instrumented, version, exportRequests = 0 }) => {
  const byName = new Map();
  for (const { name } of instrumented.values()) byName.set(name, (byName.get(name) ?? 0) + 1);
  const lines = [
    '# HELP beyla_instrumented_processes Instrumented processes by Beyla',
    '# TYPE beyla_instrumented_processes gauge',
    ...[...byName].sort().map(([name, count]) => `beyla_instrumented_processes${labels({ process_name: name })} ${count}`),
    '# HELP beyla_internal_build_info A metric with a constant \'1\' value labeled by version, revision, branch, goversion from which Beyla was built, and the goos and goarch for the build.',
    '# TYPE beyla_internal_build_info gauge',
    `beyla_internal_build_info${labels({ goarch: 'amd64', goos: 'linux', goversion: 'go1.25.3', revision: 'beyla-double', version })} 1`,
    '# HELP beyla_double_export_requests_total Requests the prometheus_export path answered (test double only).',
    '# TYPE beyla_double_export_requests_total counter',
    `beyla_double_export_requests_total ${exportRequests}`,
  ];
  return `${lines.join('\n')}\n`;
};

/** Duration the double "observes" for shared-clock event k: every tenth is slow. */
export const eventSeconds = (k) => (k % 10 === 0 ? 0.25 : 0.004);

/**
 * Events on a clock shared by every instance: event k happens at k * periodMs (Unix ms). An
 * instance counts the events in (attachedAtMs, nowMs], so overlapping instances count the same
 * ones and a test computes the true total with `floor(t / periodMs)`.
 */
export const observedEvents = ({ periodMs, attachedAtMs, nowMs }) => {
  const first = Math.floor(attachedAtMs / periodMs) + 1;
  const last = Math.floor(nowMs / periodMs);
  const count = Math.max(0, last - first + 1);
  // Slow events are the multiples of 10 in [first, last].
  const slow = count === 0 ? 0 : Math.floor(last / 10) - Math.floor((first - 1) / 10);
  return { count, slow, sumSeconds: slow * 0.25 + (count - slow) * 0.004 };
};

/** The shared-clock families: a request counter and a duration histogram, as Beyla writes them. */
export const eventsText = ({ periodMs, attachedAtMs, nowMs = Date.now(), service = 'double-clock' }) => {
  const { count, slow, sumSeconds } = observedEvents({ periodMs, attachedAtMs, nowMs });
  const series = `service_name="${service}"`;
  return [
    '# HELP beyla_double_observed_events_total Events the double observed on the shared clock.',
    '# TYPE beyla_double_observed_events_total counter',
    `beyla_double_observed_events_total{${series}} ${count}`,
    '# HELP beyla_double_attached_at_ms When this instance began observing the shared clock (Unix ms).',
    '# TYPE beyla_double_attached_at_ms gauge',
    `beyla_double_attached_at_ms ${attachedAtMs}`,
    '# HELP http_client_request_duration_seconds Duration of HTTP client calls, in seconds.',
    '# TYPE http_client_request_duration_seconds histogram',
    `http_client_request_duration_seconds_bucket{${series},le="0.005"} ${count - slow}`,
    `http_client_request_duration_seconds_bucket{${series},le="0.5"} ${count}`,
    `http_client_request_duration_seconds_bucket{${series},le="+Inf"} ${count}`,
    `http_client_request_duration_seconds_sum{${series}} ${Number(sumSeconds.toFixed(6))}`,
    `http_client_request_duration_seconds_count{${series}} ${count}`,
    '',
  ].join('\n');
};
