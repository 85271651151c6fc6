#include "agent/k8s/k8s_config.h"

#include "agent/config_parser.h"

namespace colo::k8s {
namespace {

bool url_ok(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

}  // namespace

void parse_kubernetes_section(const YAML::Node& n, const std::string& f, ConfigParser& p,
                              KubernetesConfig* c) {
  using H = ConfigParser::Handler;
  auto url = [&](std::string* out) {
    return H([&p, out](const YAML::Node& v, const std::string& ff) {
      std::string s;
      if (!p.str(v, ff, &s)) return;
      if (s.empty() || url_ok(s)) *out = s;
      else p.error(v, ff, "expected an http:// or https:// URL (or \"\" for the default), got '" + s + "'");
    });
  };
  auto abs_path = [&](std::string* out, bool empty_ok) {
    return H([&p, out, empty_ok](const YAML::Node& v, const std::string& ff) {
      std::string s;
      if (!p.str(v, ff, &s)) return;
      if ((s.empty() && empty_ok) || (!s.empty() && s[0] == '/')) *out = s;
      else p.error(v, ff, "expected an absolute path");
    });
  };
  p.section(n, f, {
    {"enabled", H([&](const YAML::Node& v, const std::string& ff) { p.boolean(v, ff, &c->enabled); })},
    {"node_name", H([&](const YAML::Node& v, const std::string& ff) {
       std::string s;
       if (!p.str(v, ff, &s)) return;
       if (s.size() > 253 || s.find('/') != std::string::npos)
         p.error(v, ff, "expected a node name (at most 253 characters, no '/')");
       else c->node_name = s;
     })},
    {"api_server", url(&c->api_server)},
    {"token_file", abs_path(&c->token_file, false)},
    {"ca_file", abs_path(&c->ca_file, true)},
    {"kubelet_url", url(&c->kubelet_url)},
    {"kubelet_ca_file", abs_path(&c->kubelet_ca_file, true)},
    {"kubelet_insecure_skip_tls_verify", H([&](const YAML::Node& v, const std::string& ff) {
       p.boolean(v, ff, &c->kubelet_insecure_skip_tls_verify);
     })},
    {"request_timeout", H([&](const YAML::Node& v, const std::string& ff) {
       p.duration(v, ff, 10'000'000ull, 120'000'000'000ull, &c->request_timeout_ns);
     })},
    {"retries", H([&](const YAML::Node& v, const std::string& ff) { p.integer(v, ff, 0, 10, &c->retries); })},
    {"retry_backoff", H([&](const YAML::Node& v, const std::string& ff) {
       p.duration(v, ff, 0, 60'000'000'000ull, &c->retry_backoff_ns);
     })},
    {"pod_refresh", H([&](const YAML::Node& v, const std::string& ff) {
       p.duration(v, ff, 1'000'000'000ull, 3600'000'000'000ull, &c->pod_refresh_ns);
     })},
    {"be_label", H([&](const YAML::Node& v, const std::string& ff) {
       std::string s;
       if (!p.str(v, ff, &s)) return;
       if (s.empty() || s.size() > 316 || s.find(' ') != std::string::npos)
         p.error(v, ff, "expected a label key such as colo.io/class");
       else c->be_label = s;
     })},
    {"be_qos_classes", H([&](const YAML::Node& v, const std::string& ff) {
       std::vector<std::string> l;
       if (!p.str_list(v, ff, &l, false)) return;
       for (auto& q : l)
         if (q != "BestEffort" && q != "Burstable" && q != "Guaranteed") {
           p.error(v, ff, "expected BestEffort, Burstable or Guaranteed; got '" + q + "'");
           return;
         }
       c->be_qos_classes = l;
     })},
    {"resources", H([&](const YAML::Node& v, const std::string& ff) {
       p.section(v, ff, {
         {"report", H([&](const YAML::Node& x, const std::string& fff) { p.boolean(x, fff, &c->resources.report); })},
         {"threshold", H([&](const YAML::Node& x, const std::string& fff) {
            double d = 0;
            try {
              d = x.as<double>();
            } catch (...) {
              p.error(x, fff, "expected a fraction between 0 and 1");
              return;
            }
            if (d < 0 || d > 1) p.error(x, fff, "expected a fraction between 0 and 1");
            else c->resources.threshold = d;
          })},
         {"max_interval", H([&](const YAML::Node& x, const std::string& fff) {
            p.duration(x, fff, 1'000'000'000ull, 24 * 3600'000'000'000ull, &c->resources.max_interval_ns);
          })},
       });
     })},
    {"eviction", H([&](const YAML::Node& v, const std::string& ff) {
       p.section(v, ff, {
         {"use_api", H([&](const YAML::Node& x, const std::string& fff) { p.boolean(x, fff, &c->eviction.use_api); })},
         {"grace_period", H([&](const YAML::Node& x, const std::string& fff) {
            p.duration(x, fff, 0, 3600'000'000'000ull, &c->eviction.grace_period_ns);
          })},
         {"fallback_kill", H([&](const YAML::Node& x, const std::string& fff) {
            p.boolean(x, fff, &c->eviction.fallback_kill);
          })},
       });
     })},
    {"node_policies", abs_path(&c->node_policies, true)},
    {"node_labels_refresh", H([&](const YAML::Node& v, const std::string& ff) {
       p.duration(v, ff, 1'000'000'000ull, 3600'000'000'000ull, &c->node_labels_refresh_ns);
     })},
  });
}

std::string default_kubernetes_yaml() {
  return R"(
# Kubernetes mode: pods' cgroups labelled with namespace/pod/container/qos_class,
# colocatable resources on the Node, BE eviction through the Eviction API,
# policies per node group. Off on bare hosts; deploy/k8s turns it on.
kubernetes:
  enabled: false
  # This node's name; "" = the NODE_NAME environment variable (downward API).
  node_name: ""
  # "" = in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
  api_server: ""
  token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
  # The kubelet's pod list; "" = https://$NODE_IP:10250/pods
  kubelet_url: ""
  # CA of the kubelet's serving certificate; "" = ca_file.
  kubelet_ca_file: ""
  kubelet_insecure_skip_tls_verify: false
  # Per request; failed requests are retried `retries` times, the wait
  # doubling from retry_backoff.
  request_timeout: 5s
  retries: 3
  retry_backoff: 200ms
  # How often the kubelet's pod list is read.
  pod_refresh: 10s
  # A pod labelled <be_label>=be is BE, <be_label>=ls is LS, whatever its QoS
  # class; unlabelled pods are BE when their QoS class is listed here.
  be_label: colo.io/class
  be_qos_classes: [BestEffort]
  # Extended resources colo.io/batch-cpu (milli-cores) and colo.io/batch-memory
  # (bytes) on the Node's status: patched when they change by more than
  # `threshold` (a fraction) or at least every max_interval.
  resources:
    report: true
    threshold: 0.05
    max_interval: 5m
  eviction:
    # Evict BE pods through the Eviction API (PodDisruptionBudgets hold).
    use_api: true
    grace_period: 30s
    # Kill the pod's processes when the API cannot be reached. Never when a
    # PodDisruptionBudget refused the eviction.
    fallback_kill: false
  # Policies per node group (a default and overrides chosen by node labels),
  # re-read when the file changes; "" = none.
  node_policies: ""
  node_labels_refresh: 60s
)";
}

}  // namespace colo::k8s
