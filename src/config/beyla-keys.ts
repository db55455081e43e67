// The Beyla v3.31 config keys coral-agent knows: which select processes, which the agent owns (checked by check-beyla-passthrough.ts).

const words = (text: string): readonly string[] => text.trim().split(/\s+/);

/**
 * Beyla v3.31's top-level YAML keys. A list names the keys inside that section (checked for
 * typos); null is a key whose value is not looked into (a scalar, or a section coral-agent
 * refuses whole). Deeper levels are not checked.
 */
export const BEYLA_KEYS: Readonly<Record<string, readonly string[] | null>> = {
  AutoTargetExe: null,
  AutoTargetLanguage: null,
  attributes: words(`extra_group_attributes host_id instance_id kubernetes metadata_retry metric_span_names_limit
    rename_unresolved_hosts rename_unresolved_hosts_incoming rename_unresolved_hosts_outgoing select sensitive_query_params`),
  channel_buffer_len: null,
  channel_send_timeout: null,
  channel_send_timeout_panic: null,
  discovery: words(`bpf_pid_filter_off default_exclude_instrument default_exclude_services default_otlp_grpc_port
    disabled_route_harvesters exclude_instrument exclude_otel_instrumented_services exclude_otel_instrumented_services_span_metrics
    exclude_services excluded_linux_system_paths instrument min_process_age poll_interval route_harvester_advanced
    route_harvester_timeout services skip_go_specific_tracers survey`),
  ebpf: words(`batch_length batch_timeout bpf_debug bpf_fs_path buffer_sizes context_propagation couchbase_db_cache_size
    disable_black_box_cp dns_request_timeout force_bpf_map_reader go_http_client_buffer_timeout heuristic_sql_detect
    high_request_volume http_request_timeout instrument_cuda kafka_topic_uuid_cache_size log_enricher maps_config
    max_transaction_time mongo_requests_cache_size mssql_prepared_statements_cache_size mysql_prepared_statements_cache_size
    override_bpfloop_enabled payload_extraction postgres_prepared_statements_cache_size protocol_debug_print redis_db_cache
    stats_wakeup_data_bytes track_request_headers traffic_control_backend wakeup_len`),
  enforce_sys_caps: null,
  executable_name: null,
  filter: words('application network stats'),
  grafana: words('otlp'),
  health_check: null,
  injector: words(`enabled_sdks exclude_instrument exporter_otlp_endpoint exporter_otlp_protocol image_version instrument
    otel_exported_signals resources trace_propagators trace_sampler webhook`),
  internal_metrics: null,
  javaagent: words('attach_timeout debug debug_instrumentation enabled'),
  jvm_runtime_metrics: words('sampling_interval'),
  log_config: null,
  log_format: null,
  log_level: null,
  metrics: words(`OTELIntervalMS allow_service_graph_self_references buckets endpoint exponential_histogram
    extra_span_resource_attributes features histogram_aggregation insecure_skip_verify instrumentations interval
    otel_sdk_log_level protocol reporters_cache_len ttl`),
  name_resolver: words('cache_expiry cache_len sources'),
  network: words(`agent_ip agent_ip_iface agent_ip_type cache_active_timeout cache_max_flows cidrs deduper deduper_fc_ttl
    direction enable exclude_interfaces exclude_protocols geo_ip guess_ports interfaces listen_interfaces listen_poll_period
    print_flows protocols reverse_dns sampling source`),
  nodejs: words('enabled'),
  open_port: null,
  otel_metrics_export: words(`OTELIntervalMS allow_service_graph_self_references buckets endpoint exponential_histogram
    extra_span_resource_attributes features histogram_aggregation insecure_skip_verify instrumentations interval
    otel_sdk_log_level protocol reporters_cache_len ttl`),
  otel_traces_export: words(`backoff_initial_interval backoff_max_elapsed_time backoff_max_interval batch_max_size
    batch_timeout endpoint insecure_skip_verify instrumentations otel_sdk_log_level protocol queue_size reporters_cache_len sampler`),
  processes: words('RunMode interval'),
  profile_port: null,
  prometheus_export: words(`allow_service_graph_self_references buckets disable_build_info exemplar_filter
    extra_resource_attributes extra_span_resource_attributes features instrumentations native_histogram path port
    service_cache_size ttl`),
  routes: words('ignore_mode ignored_patterns max_path_segment_cardinality patterns unmatched wildcard_char'),
  service_name: null,
  service_namespace: null,
  shutdown_timeout: null,
  sigil_export: words(`backoff_initial_interval backoff_max_elapsed_time backoff_max_interval batch_max_size batch_timeout
    endpoint insecure_skip_verify instrumentations otel_sdk_log_level protocol queue_size reporters_cache_len sampler`),
  stats: words('agent_ip agent_ip_iface agent_ip_type cidrs geo_ip print_stats reverse_dns'),
  target_pids: null,
  topology: words('spans'),
  trace_printer: null,
};

/** Why a key may not appear in agent.beyla.config. */
export type RefusedRole = 'selects' | 'owned' | 'exposes';

export interface RefusedKey {
  path: readonly string[];
  role: RefusedRole;
  reason: string;
}

const SELECTOR = 'coral-agent writes the discovery selectors from the services; declare a service instead';
const TOP_SELECTOR = 'it selects processes on top of (or instead of) the services coral-agent instruments; declare a service instead';

/** Keys refused in agent.beyla.config, with the reason a person reads. */
export const REFUSED_KEYS: readonly RefusedKey[] = [
  { path: ['discovery', 'instrument'], role: 'selects', reason: SELECTOR },
  { path: ['discovery', 'services'], role: 'selects', reason: SELECTOR },
  { path: ['discovery', 'exclude_instrument'], role: 'selects', reason: 'it removes processes from what the services select; leave the port or exe out of the service instead' },
  { path: ['discovery', 'exclude_services'], role: 'selects', reason: 'it removes processes from what the services select; leave the port or exe out of the service instead' },
  { path: ['discovery', 'default_exclude_instrument'], role: 'selects', reason: 'it replaces the default exclusions (Beyla itself and other collectors would be instrumented)' },
  { path: ['discovery', 'default_exclude_services'], role: 'selects', reason: 'it replaces the default exclusions (Beyla itself and other collectors would be instrumented)' },
  { path: ['discovery', 'survey'], role: 'selects', reason: 'it selects processes besides the services coral-agent instruments' },
  { path: ['target_pids'], role: 'selects', reason: 'when set, Beyla instruments only those pids and ignores every service' },
  { path: ['open_port'], role: 'selects', reason: TOP_SELECTOR },
  { path: ['executable_name'], role: 'selects', reason: TOP_SELECTOR },
  { path: ['AutoTargetExe'], role: 'selects', reason: TOP_SELECTOR },
  { path: ['AutoTargetLanguage'], role: 'selects', reason: TOP_SELECTOR },
  { path: ['service_name'], role: 'selects', reason: 'it names the processes of Beyla\'s top-level selector, which coral-agent does not use; services are named in their drop-ins' },
  { path: ['service_namespace'], role: 'selects', reason: 'it belongs to Beyla\'s top-level selector, which coral-agent does not use' },
  { path: ['injector', 'instrument'], role: 'selects', reason: 'it selects processes besides the services coral-agent instruments' },
  { path: ['injector', 'exclude_instrument'], role: 'selects', reason: 'it removes processes from what the services select' },
  { path: ['profile_port'], role: 'exposes', reason: 'it opens a pprof port on every network interface' },
  { path: ['prometheus_export', 'port'], role: 'owned', reason: 'each Beyla instance gets its own port; scrape agent.metrics.listen' },
  { path: ['prometheus_export', 'path'], role: 'owned', reason: 'coral-agent scrapes /metrics' },
  { path: ['health_check'], role: 'owned', reason: 'coral-agent probes each instance on its own health port' },
  { path: ['internal_metrics'], role: 'owned', reason: 'coral-agent reads each instance\'s internal metrics for readiness' },
  { path: ['shutdown_timeout'], role: 'owned', reason: 'set agent.beyla.shutdown_timeout instead' },
];

/** Sections the renderer merges its own keys into: they must be mappings. */
export const MERGED_SECTIONS: readonly string[] = ['discovery', 'prometheus_export'];
