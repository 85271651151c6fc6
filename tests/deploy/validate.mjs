// Validates rendered colo manifests offline: every object against the
// Kubernetes (and Prometheus operator) schemas of the kubernetes-models
// packages, then the properties the deployment depends on, field by field.
//
//   node validate.mjs agent FILE --variant privileged|capabilities [--write-config DIR]
//   node validate.mjs monitoring FILE --dashboards DIR
//   node validate.mjs self-test AGENT_FILE MONITORING_FILE --dashboards DIR
//
// Exit 0 when valid; 1 with one line per problem on stderr otherwise.
// self-test breaks valid renders in known ways and exits 0 only if every
// broken variant is rejected (a validator that accepts everything fails it).
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const K8S_GROUPS = new Set(["", "apps", "rbac.authorization.k8s.io", "policy", "batch",
  "scheduling.k8s.io", "networking.k8s.io", "storage.k8s.io"]);

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let spec;
  if (group === "monitoring.coreos.com")
    spec = `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  else if (K8S_GROUPS.has(group))
    spec = group === "" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
  else return null;
  try {
    const mod = await import(spec);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

export function loadDocs(text) {
  return YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d && typeof d === "object");
}

async function schemaErrors(docs) {
  const errs = [];
  for (const d of docs) {
    const where = `${d.kind ?? "?"}/${d.metadata?.name ?? "?"}`;
    if (!d.apiVersion || !d.kind) {
      errs.push(`${where}: apiVersion and kind are required`);
      continue;
    }
    const Model = await modelFor(d.apiVersion, d.kind);
    if (!Model) {
      errs.push(`${where}: no schema for ${d.apiVersion} ${d.kind}`);
      continue;
    }
    try {
      new Model(d).validate();
    } catch (e) {
      errs.push(`${where}: schema: ${e.message}`);
    }
  }
  return errs;
}

function find(docs, kind, name) {
  return docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name ||
    (name instanceof RegExp && name.test(d.metadata?.name ?? ""))));
}

function one(docs, kind, name, errs) {
  const f = find(docs, kind, name);
  if (f.length !== 1) {
    errs.push(`${kind}/${name}: expected exactly one, found ${f.length}`);
    return null;
  }
  return f[0];
}

function expect(errs, cond, msg) {
  if (!cond) errs.push(msg);
}

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

const NS = "colo-system";
const PORT = 9809;

// The RBAC rules the agent needs, and nothing else.
const WANT_RULES = new Set([
  "|nodes|get", "|nodes/status|patch", "|nodes/pods|get", "|pods|get", "|pods|list",
  "|pods/eviction|create",
]);

function checkAgent(docs, variant) {
  const errs = [];
  const ns = one(docs, "Namespace", NS, errs);
  if (ns) expect(errs, ns.metadata.labels?.["pod-security.kubernetes.io/enforce"] === "privileged",
    "Namespace: pod-security.kubernetes.io/enforce must be privileged (host namespaces, hostPath)");
  for (const d of docs)
    if (!["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(d.kind))
      expect(errs, d.metadata?.namespace === NS, `${d.kind}/${d.metadata?.name}: namespace must be ${NS}`);

  one(docs, "ServiceAccount", "colo", errs);

  // RBAC: least privilege, field by field.
  const role = one(docs, "ClusterRole", "colo-agent", errs);
  if (role) {
    const got = new Set();
    for (const r of role.rules ?? []) {
      for (const k of ["nonResourceURLs", "resourceNames"])
        expect(errs, !r[k], `ClusterRole: unexpected ${k}`);
      for (const g of r.apiGroups ?? [])
        for (const res of r.resources ?? [])
          for (const v of r.verbs ?? []) {
            expect(errs, g !== "*" && res !== "*" && v !== "*", "ClusterRole: wildcards are not least privilege");
            got.add(`${g}|${res}|${v}`);
          }
    }
    for (const w of WANT_RULES) expect(errs, got.has(w), `ClusterRole: missing rule ${w}`);
    for (const g of got) expect(errs, WANT_RULES.has(g), `ClusterRole: rule ${g} is more than the agent needs`);
  }
  const crb = one(docs, "ClusterRoleBinding", "colo-agent", errs);
  if (crb) {
    expect(errs, crb.roleRef?.kind === "ClusterRole" && crb.roleRef?.name === "colo-agent",
      "ClusterRoleBinding: roleRef must be ClusterRole colo-agent");
    expect(errs, (crb.subjects ?? []).length === 1 && crb.subjects[0].kind === "ServiceAccount" &&
      crb.subjects[0].name === "colo" && crb.subjects[0].namespace === NS,
      "ClusterRoleBinding: the only subject must be ServiceAccount colo-system/colo");
  }

  const ds = one(docs, "DaemonSet", "colo-agent", errs);
  let config = null;
  if (ds) {
    const tpl = ds.spec.template;
    const ps = tpl.spec;
    expect(errs, matches(ds.spec.selector?.matchLabels, tpl.metadata?.labels),
      "DaemonSet: selector does not match the pod template's labels");
    expect(errs, ps.serviceAccountName === "colo", "DaemonSet: serviceAccountName must be colo");
    expect(errs, ps.hostPID === true, "DaemonSet: hostPID must be true");
    expect(errs, ps.hostNetwork === true, "DaemonSet: hostNetwork must be true (TC on the node's interfaces)");
    expect(errs, ps.dnsPolicy === "ClusterFirstWithHostNet", "DaemonSet: dnsPolicy must be ClusterFirstWithHostNet with hostNetwork");
    expect(errs, ps.priorityClassName === "system-node-critical", "DaemonSet: priorityClassName must be system-node-critical");
    expect(errs, (ps.tolerations ?? []).some((t) => t.operator === "Exists" && !t.key && !t.effect),
      "DaemonSet: must tolerate every taint (operator: Exists, no key, no effect)");
    const cs = ps.containers ?? [];
    expect(errs, cs.length === 1, "DaemonSet: expected one container");
    const c = cs[0] ?? {};
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(errs, env.NODE_NAME?.valueFrom?.fieldRef?.fieldPath === "spec.nodeName",
      "DaemonSet: NODE_NAME must come from the downward API (spec.nodeName)");
    expect(errs, env.POD_IP?.valueFrom?.fieldRef?.fieldPath === "status.podIP",
      "DaemonSet: POD_IP must come from the downward API (status.podIP)");
    const args = c.args ?? [];
    expect(errs, args[0] === "agent", "DaemonSet: the container must run `colo agent`");
    expect(errs, args.includes(`--metrics-addr=$(POD_IP):${PORT}`),
      `DaemonSet: metrics must bind the pod (= node) IP: --metrics-addr=$(POD_IP):${PORT}`);
    const cfgArg = args.find((a) => a.startsWith("--config="));
    const port = (c.ports ?? []).find((p) => p.name === "metrics");
    expect(errs, port?.containerPort === PORT && (port?.protocol ?? "TCP") === "TCP",
      `DaemonSet: container port 'metrics' must be ${PORT}/TCP`);
    const probe = (name, p, want) => {
      expect(errs, !!p?.httpGet, `DaemonSet: ${name} must be an httpGet probe`);
      if (!p?.httpGet) return;
      expect(errs, p.httpGet.path === want, `DaemonSet: ${name} path must be ${want}`);
      const pp = p.httpGet.port;
      expect(errs, pp === PORT || pp === "metrics", `DaemonSet: ${name} must probe port ${PORT}`);
      expect(errs, !p.httpGet.host, `DaemonSet: ${name} must probe the pod IP (no host)`);
    };
    probe("startupProbe", c.startupProbe, "/healthz");
    probe("livenessProbe", c.livenessProbe, "/healthz");
    probe("readinessProbe", c.readinessProbe, "/readyz");
    expect(errs, !!c.resources?.limits?.memory, "DaemonSet: a memory limit is required");
    expect(errs, c.resources?.limits?.cpu === undefined, "DaemonSet: no CPU limit (CFS throttling would delay the fast path)");
    expect(errs, !!c.resources?.requests?.memory && !!c.resources?.requests?.cpu, "DaemonSet: CPU and memory requests are required");

    const vols = Object.fromEntries((ps.volumes ?? []).map((v) => [v.name, v]));
    const mounts = c.volumeMounts ?? [];
    const hostMount = (hostPath, wantReadOnly) => {
      const v = Object.values(vols).find((x) => x.hostPath?.path === hostPath);
      expect(errs, !!v, `DaemonSet: no hostPath volume for ${hostPath}`);
      if (!v) return null;
      const m = mounts.find((x) => x.name === v.name);
      expect(errs, !!m, `DaemonSet: hostPath ${hostPath} is not mounted in the container`);
      if (m && wantReadOnly !== undefined)
        expect(errs, !!m.readOnly === wantReadOnly, `DaemonSet: ${hostPath} must be mounted ${wantReadOnly ? "read-only" : "read-write"}`);
      return m;
    };
    hostMount("/sys/fs/bpf", false);
    const cgm = hostMount("/sys/fs/cgroup", false);
    hostMount("/sys/kernel/btf", true);
    hostMount("/proc", true);

    // The agent's ConfigMap: mounted where --config points, and present.
    const cfgVol = Object.values(vols).find((v) => v.configMap && /^colo-config/.test(v.configMap.name));
    expect(errs, !!cfgVol, "DaemonSet: the colo-config ConfigMap is not a volume");
    if (cfgVol) {
      const cm = find(docs, "ConfigMap", cfgVol.configMap.name)[0];
      expect(errs, !!cm, `DaemonSet: volume refers to ConfigMap ${cfgVol.configMap.name}, which is not rendered`);
      const m = mounts.find((x) => x.name === cfgVol.name);
      expect(errs, !!m && !!cfgArg && cfgArg === `--config=${m.mountPath}/colo.yaml`,
        "DaemonSet: --config must point to colo.yaml in the colo-config mount");
      if (cm) {
        expect(errs, typeof cm.data?.["colo.yaml"] === "string", "ConfigMap colo-config: no colo.yaml");
        if (typeof cm.data?.["colo.yaml"] === "string") {
          config = cm.data["colo.yaml"];
          const y = YAML.parse(config);
          expect(errs, y?.kubernetes?.enabled === true, "colo.yaml: kubernetes.enabled must be true");
          expect(errs, y?.cgroup?.bigbox_create === false, "colo.yaml: the kubelet's QoS cgroup is adopted (bigbox_create: false)");
          if (cgm) expect(errs, y?.cgroup?.root === cgm.mountPath,
            `colo.yaml: cgroup.root must be the host cgroup mount (${cgm.mountPath})`);
          const pol = y?.kubernetes?.node_policies;
          const pv = Object.values(vols).find((v) => v.configMap?.name === "colo-node-policies");
          const pm = pv && mounts.find((x) => x.name === pv.name);
          expect(errs, !!pm && !pm.subPath, "DaemonSet: colo-node-policies must be mounted as a directory (subPath mounts never update)");
          expect(errs, !!pm && pol === `${pm.mountPath}/policies.yaml`,
            "colo.yaml: kubernetes.node_policies must be policies.yaml in the colo-node-policies mount");
          expect(errs, !!find(docs, "ConfigMap", "colo-node-policies")[0]?.data?.["policies.yaml"],
            "ConfigMap colo-node-policies: no policies.yaml");
        }
      }
    }

    const sc = c.securityContext ?? {};
    if (variant === "privileged") {
      expect(errs, sc.privileged === true, "privileged variant: securityContext.privileged must be true");
    } else {
      expect(errs, sc.privileged !== true, "capabilities variant: must not be privileged");
      const add = new Set(sc.capabilities?.add ?? []);
      for (const cap of ["BPF", "PERFMON", "SYS_ADMIN", "NET_ADMIN"])
        expect(errs, add.has(cap), `capabilities variant: CAP_${cap} must be added`);
      expect(errs, (sc.capabilities?.drop ?? []).includes("ALL"), "capabilities variant: must drop ALL first");
      expect(errs, sc.allowPrivilegeEscalation === false, "capabilities variant: allowPrivilegeEscalation must be false");
    }

    // The Service selects the agent pods on the metrics port.
    const svc = one(docs, "Service", "colo-agent", errs);
    if (svc) {
      expect(errs, matches(svc.spec.selector, tpl.metadata?.labels), "Service: selector does not select the agent pods");
      const sp = (svc.spec.ports ?? []).find((p) => p.name === "metrics");
      expect(errs, sp?.port === PORT && (sp?.targetPort === "metrics" || sp?.targetPort === PORT),
        `Service: port 'metrics' must be ${PORT} targeting the container's metrics port`);
    }
  }
  return { errs, config };
}

function checkMonitoring(docs, agentDocs, dashboardsDir) {
  const errs = [];
  const sm = one(docs, "ServiceMonitor", "colo-agent", errs);
  const svc = agentDocs ? find(agentDocs, "Service", "colo-agent")[0] : null;
  if (sm) {
    expect(errs, (sm.spec.namespaceSelector?.matchNames ?? []).includes(NS), `ServiceMonitor: must select namespace ${NS}`);
    if (svc) expect(errs, matches(sm.spec.selector?.matchLabels, svc.metadata.labels),
      "ServiceMonitor: selector does not match the colo-agent Service's labels");
    const ep = (sm.spec.endpoints ?? [])[0] ?? {};
    expect(errs, ep.port === "metrics", "ServiceMonitor: endpoint must use the 'metrics' port");
    expect(errs, ep.honorLabels === true, "ServiceMonitor: honorLabels must be true");
    expect(errs, (ep.relabelings ?? []).some((r) => (r.sourceLabels ?? []).includes("__meta_kubernetes_pod_node_name") &&
      r.targetLabel === "node"), "ServiceMonitor: must relabel __meta_kubernetes_pod_node_name to node");
  }
  const dash = one(docs, "ConfigMap", "colo-dashboards", errs);
  if (dash) {
    expect(errs, dash.metadata.labels?.grafana_dashboard === "1", 'ConfigMap colo-dashboards: label grafana_dashboard must be "1"');
    for (const f of ["colo-node.json", "colo-fleet.json", "colo-agent.json"]) {
      const got = dash.data?.[f];
      expect(errs, typeof got === "string", `ConfigMap colo-dashboards: no ${f}`);
      if (typeof got !== "string") continue;
      try {
        JSON.parse(got);
      } catch (e) {
        errs.push(`ConfigMap colo-dashboards: ${f} is not JSON: ${e.message}`);
      }
      if (dashboardsDir) {
        const want = fs.readFileSync(path.join(dashboardsDir, f), "utf8");
        expect(errs, got === want, `ConfigMap colo-dashboards: ${f} differs from dashboards/${f}`);
      }
    }
  }
  const pr = one(docs, "PrometheusRule", "colo", errs);
  if (pr) {
    expect(errs, pr.metadata.namespace === NS, `PrometheusRule: namespace must be ${NS}`);
    expect(errs, (pr.spec?.groups ?? []).length > 0, "PrometheusRule: no rule groups");
    if (dashboardsDir) {
      const want = YAML.parse(fs.readFileSync(path.join(dashboardsDir, "rules", "colo-rules.yaml"), "utf8"));
      expect(errs, JSON.stringify(pr.spec?.groups) === JSON.stringify(want.groups),
        "PrometheusRule: spec.groups differ from dashboards/rules/colo-rules.yaml");
    }
  }
  return errs;
}

async function validateAgent(docs, variant) {
  const errs = await schemaErrors(docs);
  const r = checkAgent(docs, variant);
  return { errs: errs.concat(r.errs), config: r.config };
}

async function validateMonitoring(docs, agentDocs, dir) {
  return (await schemaErrors(docs)).concat(checkMonitoring(docs, agentDocs, dir));
}

// Known ways to break a render; each must be rejected.
const AGENT_BREAKS = [
  ["containerPort is a string (schema)", (d) => { ds(d).spec.template.spec.containers[0].ports[0].containerPort = "nine"; }],
  ["DaemonSet without selector (schema)", (d) => { delete ds(d).spec.selector; }],
  ["unknown volume source type (schema)", (d) => { ds(d).spec.template.spec.volumes[0].hostPath.path = 42; }],
  ["hostPID off", (d) => { delete ds(d).spec.template.spec.hostPID; }],
  ["hostNetwork off", (d) => { ds(d).spec.template.spec.hostNetwork = false; }],
  ["no NODE_NAME", (d) => { const c = ds(d).spec.template.spec.containers[0]; c.env = c.env.filter((e) => e.name !== "NODE_NAME"); }],
  ["CPU limit", (d) => { ds(d).spec.template.spec.containers[0].resources.limits.cpu = "1"; }],
  ["no memory limit", (d) => { delete ds(d).spec.template.spec.containers[0].resources.limits.memory; }],
  ["readiness on /healthz", (d) => { ds(d).spec.template.spec.containers[0].readinessProbe.httpGet.path = "/healthz"; }],
  ["no startup probe", (d) => { delete ds(d).spec.template.spec.containers[0].startupProbe; }],
  ["metrics on loopback", (d) => { const c = ds(d).spec.template.spec.containers[0]; c.args = c.args.map((a) => a.startsWith("--metrics-addr") ? "--metrics-addr=127.0.0.1:9809" : a); }],
  ["bpffs not mounted", (d) => { const c = ds(d).spec.template.spec.containers[0]; const v = ds(d).spec.template.spec.volumes.find((x) => x.hostPath?.path === "/sys/fs/bpf"); c.volumeMounts = c.volumeMounts.filter((m) => m.name !== v.name); }],
  ["taints not tolerated", (d) => { ds(d).spec.template.spec.tolerations = [{ key: "a", operator: "Exists" }]; }],
  ["wrong priority class", (d) => { ds(d).spec.template.spec.priorityClassName = "system-cluster-critical"; }],
  ["RBAC wildcard", (d) => { d.find((x) => x.kind === "ClusterRole").rules.push({ apiGroups: [""], resources: ["*"], verbs: ["get"] }); }],
  ["RBAC pods delete", (d) => { d.find((x) => x.kind === "ClusterRole").rules.push({ apiGroups: [""], resources: ["pods"], verbs: ["delete"] }); }],
  ["RBAC no eviction", (d) => { const r = d.find((x) => x.kind === "ClusterRole"); r.rules = r.rules.filter((x) => !x.resources.includes("pods/eviction")); }],
  ["not privileged", (d) => { ds(d).spec.template.spec.containers[0].securityContext = {}; }],
  ["kubernetes mode off", (d) => { const cm = d.find((x) => x.kind === "ConfigMap" && /^colo-config/.test(x.metadata.name)); cm.data["colo.yaml"] = cm.data["colo.yaml"].replace("enabled: true", "enabled: false"); }],
  ["Service selects nothing", (d) => { d.find((x) => x.kind === "Service").spec.selector = { app: "other" }; }],
];
const MON_BREAKS = [
  ["honorLabels off", (d) => { d.find((x) => x.kind === "ServiceMonitor").spec.endpoints[0].honorLabels = false; }],
  ["no node relabeling", (d) => { d.find((x) => x.kind === "ServiceMonitor").spec.endpoints[0].relabelings = []; }],
  ["no grafana label", (d) => { delete d.find((x) => x.metadata.name === "colo-dashboards").metadata.labels.grafana_dashboard; }],
  ["dashboard missing", (d) => { delete d.find((x) => x.metadata.name === "colo-dashboards").data["colo-fleet.json"]; }],
  ["rule groups not a list (schema)", (d) => { d.find((x) => x.kind === "PrometheusRule").spec.groups = "x"; }],
  ["endpoints not a list (schema)", (d) => { d.find((x) => x.kind === "ServiceMonitor").spec.endpoints = { port: "metrics" }; }],
];
const CAPS_BREAKS = [
  ["privileged in the capabilities variant", (d) => { ds(d).spec.template.spec.containers[0].securityContext.privileged = true; }],
  ["no CAP_BPF", (d) => { const c = ds(d).spec.template.spec.containers[0].securityContext.capabilities; c.add = c.add.filter((x) => x !== "BPF"); }],
  ["no CAP_NET_ADMIN", (d) => { const c = ds(d).spec.template.spec.containers[0].securityContext.capabilities; c.add = c.add.filter((x) => x !== "NET_ADMIN"); }],
  ["capabilities not dropped first", (d) => { delete ds(d).spec.template.spec.containers[0].securityContext.capabilities.drop; }],
];
function ds(docs) {
  return docs.find((x) => x.kind === "DaemonSet");
}

async function main(argv) {
  const [mode, ...rest] = argv;
  const opt = (name) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (mode === "agent") {
    const docs = loadDocs(fs.readFileSync(rest[0], "utf8"));
    const { errs, config } = await validateAgent(docs, opt("--variant"));
    const out = opt("--write-config");
    if (out && config) fs.writeFileSync(path.join(out, "colo.yaml"), config);
    const pol = find(docs, "ConfigMap", "colo-node-policies")[0]?.data?.["policies.yaml"];
    if (out && pol) fs.writeFileSync(path.join(out, "policies.yaml"), pol);
    return report(errs, `${rest[0]}: ${docs.length} objects`);
  }
  if (mode === "monitoring") {
    const docs = loadDocs(fs.readFileSync(rest[0], "utf8"));
    const agent = opt("--agent") ? loadDocs(fs.readFileSync(opt("--agent"), "utf8")) : null;
    return report(await validateMonitoring(docs, agent, opt("--dashboards")), `${rest[0]}: ${docs.length} objects`);
  }
  if (mode === "self-test") {
    const agentText = fs.readFileSync(rest[0], "utf8");
    const monText = fs.readFileSync(rest[1], "utf8");
    const dir = opt("--dashboards");
    let bad = 0;
    const base = await validateAgent(loadDocs(agentText), "privileged");
    if (base.errs.length) { console.error("self-test: the unbroken agent render is not valid:\n" + base.errs.join("\n")); return 1; }
    for (const [name, breakIt] of AGENT_BREAKS) {
      const docs = loadDocs(agentText);
      breakIt(docs);
      const { errs } = await validateAgent(docs, "privileged");
      if (errs.length === 0) { console.error(`self-test: broken render accepted: ${name}`); bad++; }
      else console.log(`rejected as expected: ${name}: ${errs[0]}`);
    }
    const capsFile = opt("--capabilities");
    if (capsFile) {
      const capsText = fs.readFileSync(capsFile, "utf8");
      const ok = await validateAgent(loadDocs(capsText), "capabilities");
      if (ok.errs.length) { console.error("self-test: the unbroken capabilities render is not valid:\n" + ok.errs.join("\n")); return 1; }
      for (const [name, breakIt] of CAPS_BREAKS) {
        const docs = loadDocs(capsText);
        breakIt(docs);
        const { errs } = await validateAgent(docs, "capabilities");
        if (errs.length === 0) { console.error(`self-test: broken render accepted: ${name}`); bad++; }
        else console.log(`rejected as expected: ${name}: ${errs[0]}`);
      }
    }
    const agentDocs = loadDocs(agentText);
    for (const [name, breakIt] of MON_BREAKS) {
      const docs = loadDocs(monText);
      breakIt(docs);
      const errs = await validateMonitoring(docs, agentDocs, dir);
      if (errs.length === 0) { console.error(`self-test: broken render accepted: ${name}`); bad++; }
      else console.log(`rejected as expected: ${name}: ${errs[0]}`);
    }
    return bad ? 1 : 0;
  }
  console.error("usage: validate.mjs agent|monitoring|self-test ...");
  return 2;
}

function report(errs, what) {
  if (errs.length) {
    for (const e of errs) console.error(`INVALID: ${e}`);
    return 1;
  }
  console.log(`valid: ${what}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
