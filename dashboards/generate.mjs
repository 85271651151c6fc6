#!/usr/bin/env node
// Writes dashboards/colo-{node,fleet,agent}.json. The JSON files are what
// Grafana loads (commit them); this script keeps their conventions in one place:
// a `datasource` variable used by every panel and query, $__rate_interval in
// every rate, a unit on every panel, stable uids and panel ids.
//   node dashboards/generate.mjs          # rewrite the files
//   node dashboards/generate.mjs --check  # exit 1 when a file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DS = { type: 'prometheus', uid: '${datasource}' };
// Panels whose queries may rightly return nothing on a healthy node: they show
// events that happen rarely (the live test does not require data from them).
const RARE = 'Rare event: empty on a healthy node.';

function datasourceVar() {
  return {
    name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus',
    hide: 0, refresh: 1, regex: '', options: [], skipUrlSync: false,
  };
}

function queryVar(name, label, query, { multi = false } = {}) {
  const v = {
    name, label, type: 'query', datasource: DS, query,
    hide: 0, refresh: 2, regex: '', sort: 1, options: [], skipUrlSync: false,
    multi, includeAll: multi,
  };
  if (multi) v.allValue = '.*';
  return v;
}

// A cgroup's legend: its path on a bare host; "pod container" in
// Kubernetes mode (where pods' series carry no path, only those labels).
const WHO = '{{cgroup}}{{pod}} {{container}}';

function target(refId, expr, legendFormat, extra = {}) {
  return { datasource: DS, refId, expr, legendFormat, range: true, instant: false, ...extra };
}

class Layout {
  constructor() { this.id = 0; this.y = 0; this.x = 0; this.rowH = 0; this.panels = []; }
  row(title) {
    this.newline();
    this.panels.push({ type: 'row', id: ++this.id, title, collapsed: false, panels: [],
                       gridPos: { h: 1, w: 24, x: 0, y: this.y } });
    this.y += 1;
  }
  newline() { if (this.x) { this.y += this.rowH; this.x = 0; this.rowH = 0; } }
  add(p, w, h) {
    if (this.x + w > 24) this.newline();
    p.id = ++this.id;
    p.gridPos = { h, w, x: this.x, y: this.y };
    this.x += w;
    this.rowH = Math.max(this.rowH, h);
    this.panels.push(p);
  }
}

function timeseries(title, unit, targets, { description = '', min, stack = false } = {}) {
  const defaults = {
    unit,
    color: { mode: 'palette-classic' },
    custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: stack ? 30 : 10, showPoints: 'never',
              stacking: { mode: stack ? 'normal' : 'none', group: 'A' }, spanNulls: false },
  };
  if (min !== undefined) defaults.min = min;
  return {
    type: 'timeseries', title, description, datasource: DS, targets,
    fieldConfig: { defaults, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
               tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

function stat(title, unit, targets, { description = '', mappings = [], textMode = 'auto' } = {}) {
  return {
    type: 'stat', title, description, datasource: DS, targets,
    fieldConfig: { defaults: { unit, mappings, color: { mode: 'thresholds' },
                               thresholds: { mode: 'absolute',
                                             steps: [{ color: 'green', value: null }] } },
                   overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
               colorMode: 'value', graphMode: 'none', justifyMode: 'auto', textMode,
               orientation: 'auto' },
  };
}

function heatmap(title, expr, description) {
  return {
    type: 'heatmap', title, description, datasource: DS,
    targets: [target('A', expr, '{{le}}', { format: 'heatmap' })],
    fieldConfig: { defaults: { unit: 's', custom: { hideFrom: { legend: false, tooltip: false, viz: false } } },
                   overrides: [] },
    options: { calculate: false, cellGap: 1, yAxis: { unit: 's', axisPlacement: 'left' },
               color: { mode: 'scheme', scheme: 'Oranges', exponent: 0.5, steps: 64 },
               rowsFrame: { layout: 'auto' }, tooltip: { mode: 'single', yHistogram: true },
               legend: { show: true }, cellValues: { unit: 'short' } },
  };
}

function dashboard(uid, title, description, vars, layout, tags) {
  return {
    uid, title, description, tags: ['colo', ...tags], editable: true, graphTooltip: 1,
    schemaVersion: 39, version: 1, refresh: '30s', timezone: 'browser',
    time: { from: 'now-1h', to: 'now' }, timepicker: {}, fiscalYearStartMonth: 0,
    liveNow: false, weekStart: '', links: [],
    annotations: { list: [] },
    templating: { list: vars },
    panels: layout.panels,
  };
}

const bool = [{ type: 'value', options: { '0': { text: 'off', color: 'red' },
                                          '1': { text: 'on', color: 'green' } } }];

// ---- Node: what BE gets and what LS suffers on one node -------------------
function nodeDashboard() {
  const n = 'instance=~"$node"';
  const c = `${n}, cgroup=~"$cgroup"`;
  const L = new Layout();
  L.row('Big box vs colocatable');
  L.add(timeseries('Big box CPU quota vs colocatable CPU', 'suffix: cores', [
    target('A', `colo_bigbox_cpu_quota_cores{${n}} >= 0`, 'box quota'),
    target('B', `colo_node_colocatable_cpu_cores{${n}}`, 'colocatable'),
    target('C', `sum(rate(colo_class_cpu_seconds_total{${n}, class="be"}[$__rate_interval]))`, 'BE used'),
  ], { description: 'The big box\'s CFS quota (what BE may use now), the colocatable CPU the policy allows, and the CPU BE tasks actually got (BPF, per class). The quota falls within milliseconds when LS needs the CPUs.', min: 0 }), 10, 8);
  L.add(timeseries('Big box memory limit vs colocatable memory', 'bytes', [
    target('A', `colo_bigbox_memory_limit_bytes{${n}} >= 0`, 'box limit'),
    target('B', `colo_node_colocatable_memory_bytes{${n}}`, 'colocatable'),
  ], { description: 'memory.limit of the big box and the colocatable memory the policy allows.', min: 0 }), 8, 8);
  L.add(stat('Big box cpuset', 'suffix: CPUs', [target('A', `colo_bigbox_cpuset_cpus{${n}}`, 'CPUs')],
    { description: 'CPUs in the big box\'s cpuset (whole cores; the cores LS is busiest on are taken back first).' }), 3, 4);
  L.add(stat('Colocation', 'none', [target('A', `colo_colocation_enabled{${n}}`, 'enabled')],
    { description: '`colo disable` turns it off: the box is held at its minimum.', mappings: bool }), 3, 4);
  L.row('CPU and run-queue latency');
  L.add(timeseries('CPU by class', 'suffix: cores', [
    target('A', `sum by (class) (rate(colo_class_cpu_seconds_total{${n}, class!="idle"}[$__rate_interval]))`, '{{class}}'),
  ], { description: 'CPU time of LS, BE and system tasks, measured at every context switch.', min: 0, stack: true }), 8, 8);
  L.add(heatmap('LS run-queue latency',
    `sum by (le) (increase(colo_cgroup_runqueue_latency_seconds_bucket{${c}, class="ls"}[$__rate_interval]))`,
    'How long runnable LS tasks waited for a CPU: each column is one interval, darker cells hold more wakeups.'), 8, 8);
  L.add(heatmap('BE run-queue latency',
    `sum by (le) (increase(colo_cgroup_runqueue_latency_seconds_bucket{${c}, class="be"}[$__rate_interval]))`,
    'The same for BE tasks: BE waiting long is the intended effect of colocation, not a problem.'), 8, 8);
  L.add(timeseries('Run-queue latency p99 by class', 's', [
    target('A', `histogram_quantile(0.99, sum by (class, le) (rate(colo_cgroup_runqueue_latency_seconds_bucket{${c}}[$__rate_interval])))`, 'p99 {{class}}'),
    target('B', `histogram_quantile(0.5, sum by (class, le) (rate(colo_cgroup_runqueue_latency_seconds_bucket{${c}}[$__rate_interval])))`, 'p50 {{class}}'),
  ], { description: 'Quantiles from the power-of-two buckets (the true value lies within a factor of two below the bucket bound).', min: 0 }), 12, 8);
  L.add(timeseries('Worst LS cgroups, run-queue p99', 's', [
    target('A', `topk(5, histogram_quantile(0.99, sum by (cgroup, namespace, pod, container, le) (rate(colo_cgroup_runqueue_latency_seconds_bucket{${c}, class="ls"}[$__rate_interval]))))`, WHO),
  ], { description: 'The five LS cgroups with the highest p99. Only cgroups with their own histogram (metrics.cgroup_histograms, metrics.max_cgroup_histograms) are named; the rest of the class is one series without a cgroup label.', min: 0 }), 12, 8);
  L.row('Interference');
  L.add(timeseries('Preemptions, by victim class and preemptor class', 'ops', [
    target('A', `sum by (class, by_class) (rate(colo_cgroup_preemptions_total{${c}}[$__rate_interval]))`, '{{class}} preempted by {{by_class}}'),
  ], { description: 'A runnable task lost its CPU to a task of by_class. LS preempted by BE should be near zero: BE runs with minimum weight.', min: 0 }), 8, 8);
  L.add(timeseries('SMT interference on LS', 'suffix: cores', [
    target('A', `sum by (aggressor_class) (rate(colo_cgroup_smt_interference_seconds_total{${c}, class="ls"}[$__rate_interval]))`, 'beside {{aggressor_class}}'),
  ], { description: 'CPU time LS tasks ran while their SMT sibling ran BE or system work (zero on machines without SMT).', min: 0 }), 8, 8);
  L.add(timeseries('Urgent events', 'ops', [
    target('A', `sum by (cgroup, namespace, pod, container) (rate(colo_cgroup_urgent_events_total{${c}, class="ls"}[$__rate_interval]))`, WHO),
  ], { description: 'An LS task waited longer than bpf.urgent_latency: the kernel tells the agent, which cuts the box at once.', min: 0 }), 8, 8);
  L.row('Memory and pressure');
  L.add(timeseries('Memory reclaim stall, by class', 'percentunit', [
    target('A', `sum by (class) (rate(colo_cgroup_memory_reclaim_stall_seconds_total{${c}}[$__rate_interval]))`, '{{class}}'),
  ], { description: 'Time tasks stalled in direct or memcg reclaim, per second (100% = one task stalled all the time).', min: 0 }), 8, 8);
  L.add(timeseries('Pressure stall (PSI some), worst cgroup per class', 'percentunit', [
    target('A', `max by (class) (rate(colo_cgroup_pressure_cpu_waiting_seconds_total{${c}}[$__rate_interval]))`, 'cpu {{class}}'),
    target('B', `max by (class) (rate(colo_cgroup_pressure_memory_waiting_seconds_total{${c}}[$__rate_interval]))`, 'memory {{class}}'),
    target('C', `max by (class) (rate(colo_cgroup_pressure_io_waiting_seconds_total{${c}}[$__rate_interval]))`, 'io {{class}}'),
  ], { description: 'Share of wall time some task of the cgroup waited for CPU, memory or IO (kernel PSI).', min: 0 }), 8, 8);
  L.add(timeseries('OOM kills', 'short', [
    target('A', `sum by (cgroup, namespace, pod, container) (increase(colo_cgroup_oom_kills_total{${c}}[$__rate_interval])) > 0`, WHO),
  ], { description: `Tasks killed by the OOM killer, by the victim's memory cgroup. ${RARE}`, min: 0 }), 8, 8);
  L.row('Network');
  L.add(timeseries('Egress by cgroup', 'Bps', [
    target('A', `topk(10, sum by (cgroup, namespace, pod, container, interface) (rate(colo_cgroup_network_transmit_bytes_total{${c}}[$__rate_interval])))`, WHO + ' on {{interface}}'),
  ], { description: 'Bytes sent by each cgroup\'s sockets, counted at TC egress on the accounted interfaces.', min: 0 }), 12, 8);
  L.add(timeseries('Egress packets by class', 'pps', [
    target('A', `sum by (class) (rate(colo_cgroup_network_transmit_packets_total{${c}}[$__rate_interval]))`, '{{class}}'),
  ], { description: 'Packets sent, by class.', min: 0 }), 12, 8);
  L.add(timeseries('BE egress limit vs sent, by interface', 'Bps', [
    target('A', `colo_bigbox_egress_limit_bytes_per_second{${n}}`, 'BE limit on {{interface}}'),
    target('B', `sum by (interface) (rate(colo_cgroup_network_transmit_bytes_total{${n}, class="be"}[$__rate_interval]))`, 'BE sent on {{interface}}'),
    target('C', `sum by (interface) (rate(colo_cgroup_network_transmit_bytes_total{${n}, class="ls"}[$__rate_interval]))`, 'LS sent on {{interface}}'),
  ], { description: 'The big box\'s egress limit on each limited interface (network.limit: the high bound while LS is quiet, the low bound while LS egress is above ls_watermark) beside what BE and LS actually sent there. LS is never shaped; BE stays at or below its limit. No limit line: limiting is off on that interface.', min: 0 }), 12, 8);
  L.add(timeseries('BE egress drops, by interface and reason', 'pps', [
    target('A', `sum by (interface, reason) (rate(colo_cgroup_network_transmit_dropped_packets_total{${n}}[$__rate_interval])) > 0`, '{{reason}} on {{interface}}'),
  ], { description: `BE packets dropped at egress (egress_limit: BE sent faster than its limit and its queue in colo's HTB was full; TCP mostly slows down instead). ${RARE}`, min: 0 }), 12, 8);
  L.row('Evictions and reactions');
  L.add(timeseries('Evictions by reason', 'short', [
    target('A', `sum by (reason) (increase(colo_evictions_total{${n}}[$__rate_interval])) > 0`, '{{reason}}'),
  ], { description: `BE tasks evicted, by the watermark that fired. ${RARE}`, min: 0 }), 12, 8);
  L.add(timeseries('Control reaction time p99, by trigger', 's', [
    target('A', `histogram_quantile(0.99, sum by (trigger, le) (rate(colo_control_reaction_seconds_bucket{${n}}[$__rate_interval])))`, '{{trigger}}'),
  ], { description: `From the kernel seeing the signal (urgent latency, LS demand) to the box's cgroup write done. ${RARE}`, min: 0 }), 12, 8);
  return dashboard('colo-node', 'colo / Node',
    'One node: what the big box (BE) gets and what LS suffers.',
    [datasourceVar(),
     queryVar('node', 'Node', 'label_values(colo_build_info, instance)'),
     queryVar('cgroup', 'Cgroup', 'label_values(colo_cgroup_runqueue_wait_seconds_total{instance=~"$node"}, cgroup)', { multi: true })],
    L, ['node']);
}

// ---- Fleet: a group of nodes ------------------------------------------------
function fleetDashboard() {
  const f = 'job=~"$job", instance=~"$node"';
  const L = new Layout();
  L.add(stat('Nodes reporting', 'short', [target('A', `count(colo_build_info{${f}})`, 'nodes')],
    { description: 'Agents that Prometheus scrapes.' }), 6, 4);
  L.add(stat('Agents down', 'short', [target('A', `count(up{${f}} == 0) or vector(0)`, 'down')],
    { description: 'Scrape targets of the job that do not answer.' }), 6, 4);
  L.add(stat('Nodes with colocation off', 'short', [target('A', `count(colo_colocation_enabled{${f}} == 0) or vector(0)`, 'off')],
    { description: 'Nodes where `colo disable` holds the big box at its minimum.' }), 6, 4);
  L.add(stat('Evictions (range)', 'short', [target('A', `sum(increase(colo_evictions_total{${f}}[$__range]))`, 'evictions')],
    { description: 'BE evictions over the dashboard\'s time range, all nodes.' }), 6, 4);
  L.row('Colocatable vs used');
  L.add(timeseries('Fleet CPU: colocatable, box quota, BE used', 'suffix: cores', [
    target('A', `sum(colo_node_colocatable_cpu_cores{${f}})`, 'colocatable'),
    target('B', `sum(colo_bigbox_cpu_quota_cores{${f}} >= 0)`, 'box quota'),
    target('C', `sum(rate(colo_class_cpu_seconds_total{${f}, class="be"}[$__rate_interval]))`, 'BE used'),
    target('D', `sum(rate(colo_class_cpu_seconds_total{${f}, class="ls"}[$__rate_interval]))`, 'LS used'),
  ], { description: 'Summed over the selected nodes: the gap between colocatable and BE used is capacity BE could still take.', min: 0 }), 12, 8);
  L.add(timeseries('Fleet memory: colocatable and box limits', 'bytes', [
    target('A', `sum(colo_node_colocatable_memory_bytes{${f}})`, 'colocatable'),
    target('B', `sum(colo_bigbox_memory_limit_bytes{${f}} >= 0)`, 'box limits'),
  ], { description: 'Summed over the selected nodes.', min: 0 }), 12, 8);
  L.add(timeseries('Colocatable CPU per node', 'suffix: cores', [
    target('A', `colo_node_colocatable_cpu_cores{${f}}`, '{{instance}}'),
  ], { description: 'What each node lets BE use.', min: 0 }), 12, 8);
  L.add(timeseries('BE CPU used per node', 'suffix: cores', [
    target('A', `sum by (instance) (rate(colo_class_cpu_seconds_total{${f}, class="be"}[$__rate_interval]))`, '{{instance}}'),
  ], { description: 'What BE got on each node.', min: 0 }), 12, 8);
  L.row('LS health');
  L.add(timeseries('Worst LS run-queue p99 per node', 's', [
    target('A', `max by (instance) (histogram_quantile(0.99, sum by (instance, cgroup, namespace, pod, container, le) (rate(colo_cgroup_runqueue_latency_seconds_bucket{${f}, class="ls"}[$__rate_interval]))))`, '{{instance}}'),
  ], { description: 'The worst LS cgroup on each node (the LS-latency alert fires above 50 ms).', min: 0 }), 12, 8);
  L.add(timeseries('LS preempted by BE, per node', 'ops', [
    target('A', `sum by (instance) (rate(colo_cgroup_preemptions_total{${f}, class="ls", by_class="be"}[$__rate_interval]))`, '{{instance}}'),
  ], { description: 'Should stay near zero: BE runs with minimum weight.', min: 0 }), 12, 8);
  L.row('Egress');
  L.add(timeseries('BE egress limit per node', 'Bps', [
    target('A', `colo_bigbox_egress_limit_bytes_per_second{${f}}`, '{{instance}} {{interface}}'),
  ], { description: 'The big box\'s egress limit on each limited interface of each node: a line at the low bound (network.limit.low) marks a node whose LS egress is above its watermark.', min: 0 }), 12, 8);
  L.add(timeseries('BE egress drops per node', 'pps', [
    target('A', `sum by (instance, interface) (rate(colo_cgroup_network_transmit_dropped_packets_total{${f}}[$__rate_interval])) > 0`, '{{instance}} {{interface}}'),
  ], { description: `BE packets dropped because BE sent faster than its egress limit. ${RARE}`, min: 0 }), 12, 8);
  L.row('Evictions and agents');
  L.add(timeseries('Evictions per node', 'short', [
    target('A', `sum by (instance, reason) (increase(colo_evictions_total{${f}}[$__rate_interval])) > 0`, '{{instance}} {{reason}}'),
  ], { description: `BE evictions by node and reason. ${RARE}`, min: 0 }), 12, 8);
  L.add(timeseries('BPF events lost per node', 'ops', [
    target('A', `sum by (instance) (rate(colo_bpf_events_lost_total{${f}}[$__rate_interval]))`, '{{instance}}'),
  ], { description: 'Kernel-side drops: above zero, some signals are undercounted on that node.', min: 0 }), 12, 8);
  return dashboard('colo-fleet', 'colo / Fleet',
    'A group of nodes: colocatable vs used, worst LS latency, evictions, nodes with colocation off.',
    [datasourceVar(),
     queryVar('job', 'Node group (job)', 'label_values(colo_build_info, job)', { multi: true }),
     queryVar('node', 'Node', 'label_values(colo_build_info{job=~"$job"}, instance)', { multi: true })],
    L, ['fleet']);
}

// ---- Agent: colo's own cost and health --------------------------------------
function agentDashboard() {
  const n = 'instance=~"$node"';
  const L = new Layout();
  L.add(stat('Scraped', 'bool_yes_no', [target('A', `up{${n}}`, '{{job}}')],
    { description: 'Prometheus reaches /metrics.' }), 4, 4);
  L.add(stat('BPF attached', 'bool_yes_no', [target('A', `colo_bpf_attached{${n}}`, '{{mode}}')],
    { description: 'The programs are attached (mode tp_btf or raw_tp); no: cgroupfs-only fallback.' }), 4, 4);
  L.add(stat('Tracked cgroups', 'short', [target('A', `colo_tracked_cgroups{${n}}`, 'cgroups')],
    { description: 'Cgroups the agent follows on the cpu hierarchy.' }), 4, 4);
  L.add(stat('Series exported', 'short', [target('A', `scrape_samples_scraped{${n}}`, 'samples')],
    { description: 'Samples per scrape: watch for cardinality (see metrics.per_cgroup_histograms).' }), 4, 4);
  L.add(stat('Version', 'none', [target('A', `colo_build_info{${n}}`, '{{version}} ({{revision}})')],
    { description: 'colo_build_info.', textMode: 'name' }), 8, 4);
  L.row('BPF cost');
  L.add(timeseries('BPF CPU by program', 'percentunit', [
    target('A', `sum by (prog) (rate(colo_bpf_prog_run_seconds_total{${n}}[$__rate_interval]))`, '{{prog}}'),
  ], { description: 'Kernel time spent in each program, as a share of one CPU (kernel BPF stats).', min: 0, stack: true }), 8, 8);
  L.add(timeseries('BPF program runs', 'ops', [
    target('A', `sum by (prog) (rate(colo_bpf_prog_runs_total{${n}}[$__rate_interval]))`, '{{prog}}'),
  ], { description: 'Runs per second of each program.', min: 0 }), 8, 8);
  L.add(timeseries('BPF cost per run', 's', [
    target('A', `sum by (prog) (rate(colo_bpf_prog_run_seconds_total{${n}}[$__rate_interval])) / sum by (prog) (rate(colo_bpf_prog_runs_total{${n}}[$__rate_interval]))`, '{{prog}}'),
  ], { description: 'Mean time per run of each program.', min: 0 }), 8, 8);
  L.add(timeseries('BPF events lost', 'ops', [
    target('A', `sum by (source) (rate(colo_bpf_events_lost_total{${n}}[$__rate_interval]))`, '{{source}}'),
  ], { description: 'Kernel-side drops and helper failures by source (ring buffer full, map full, ...). Any rate above zero means some signal is undercounted.', min: 0 }), 12, 8);
  L.add(timeseries('Urgent events', 'ops', [
    target('A', `sum(rate(colo_cgroup_urgent_events_total{${n}}[$__rate_interval]))`, 'urgent'),
  ], { description: 'Urgent events the kernel sent to the agent (LS waited longer than bpf.urgent_latency).', min: 0 }), 12, 8);
  L.add(timeseries('Big box write errors', 'ops', [
    target('A', `sum by (file, error) (rate(colo_bigbox_write_errors_total{${n}}[$__rate_interval]))`, '{{file}} {{error}}'),
  ], { description: `${RARE} Writes to the big box's cgroup files the kernel refused, by file and errno (EBUSY: memory above a new limit, EINVAL: a value or CPU it rejects). The box keeps its last applied value meanwhile; the agent's log names the path.`, min: 0 }), 24, 8);
  L.row('Agent process');
  L.add(timeseries('Agent CPU', 'percentunit', [
    target('A', `rate(process_cpu_seconds_total{${n}}[$__rate_interval])`, 'user+system'),
  ], { description: 'CPU of the colo agent process, as a share of one CPU (BPF time is in the kernel, above).', min: 0 }), 8, 8);
  L.add(timeseries('Agent memory', 'bytes', [
    target('A', `process_resident_memory_bytes{${n}}`, 'resident'),
  ], { description: 'Resident memory of the agent.', min: 0 }), 8, 8);
  L.add(timeseries('Scrape duration', 's', [
    target('A', `scrape_duration_seconds{${n}}`, 'scrape'),
  ], { description: 'How long /metrics took to serve.', min: 0 }), 8, 8);
  return dashboard('colo-agent', 'colo / Agent',
    'The colo agent itself: BPF cost, events lost, its CPU and memory.',
    [datasourceVar(), queryVar('node', 'Node', 'label_values(colo_build_info, instance)')],
    L, ['agent']);
}

const files = {
  'colo-node.json': nodeDashboard(),
  'colo-fleet.json': fleetDashboard(),
  'colo-agent.json': agentDashboard(),
};
const check = process.argv.includes('--check');
let stale = 0;
for (const [name, d] of Object.entries(files)) {
  const path = join(here, name);
  const text = JSON.stringify(d, null, 2) + '\n';
  if (check) {
    let old = '';
    try { old = readFileSync(path, 'utf8'); } catch { /* missing */ }
    if (old !== text) { console.error(`${path}: out of date; run node dashboards/generate.mjs`); stale++; }
  } else {
    writeFileSync(path, text);
  }
}
process.exit(stale ? 1 : 0);
