#include <gtest/gtest.h>

#include "agent/config.h"
#include "agent/k8s/node_policies.h"
#include "userspace/util/fs.h"

namespace colo {
namespace {

const std::string kSrc = COLO_SOURCE_DIR;

TEST(KubernetesConfig, DefaultsOffAndDocumented) {
  std::vector<ConfigError> errs;
  Config c = parse_config(default_config_yaml(), &errs);
  EXPECT_TRUE(errs.empty()) << format_config_errors("default", errs);
  EXPECT_FALSE(c.kubernetes.enabled);
  EXPECT_EQ(c.kubernetes.be_label, "colo.io/class");
  EXPECT_EQ(c.kubernetes.be_qos_classes, std::vector<std::string>{"BestEffort"});
  EXPECT_FALSE(c.kubernetes.eviction.fallback_kill);
  EXPECT_TRUE(c.kubernetes.eviction.use_api);
  EXPECT_NE(default_config_yaml().find("kubernetes:\n  enabled: false"), std::string::npos);
  // Empty file: same defaults.
  Config d = parse_config("", &errs);
  EXPECT_FALSE(d.kubernetes.enabled);
}

TEST(KubernetesConfig, DeployedConfigMapIsValid) {
  std::vector<ConfigError> errs;
  Config c = load_config_file(kSrc + "/deploy/k8s/base/colo.yaml", &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("colo.yaml", errs);
  EXPECT_TRUE(c.kubernetes.enabled);
  EXPECT_FALSE(c.cgroup.bigbox_create);
  EXPECT_EQ(c.cgroup.bigbox, "/kubepods.slice/kubepods-besteffort.slice");
  EXPECT_EQ(c.kubernetes.node_policies, "/etc/colo-policies/policies.yaml");
  EXPECT_EQ(c.kubernetes.resources.max_interval_ns, 300'000'000'000ull);
}

TEST(KubernetesConfig, Parses) {
  std::vector<ConfigError> errs;
  Config c = parse_config(R"(kubernetes:
  enabled: true
  node_name: worker-7
  api_server: https://10.96.0.1:443
  kubelet_url: http://127.0.0.1:10255/pods
  kubelet_insecure_skip_tls_verify: true
  request_timeout: 2s
  retries: 5
  retry_backoff: 50ms
  pod_refresh: 30s
  be_label: example.com/tier
  be_qos_classes: [BestEffort, Burstable]
  resources: {report: false, threshold: 0.1, max_interval: 1m}
  eviction: {use_api: false, grace_period: 5s, fallback_kill: true}
  node_policies: /etc/p.yaml
  node_labels_refresh: 2m
)",
                          &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("x", errs);
  auto& k = c.kubernetes;
  EXPECT_TRUE(k.enabled);
  EXPECT_EQ(k.node_name, "worker-7");
  EXPECT_EQ(k.api_server, "https://10.96.0.1:443");
  EXPECT_EQ(k.kubelet_url, "http://127.0.0.1:10255/pods");
  EXPECT_TRUE(k.kubelet_insecure_skip_tls_verify);
  EXPECT_EQ(k.request_timeout_ns, 2'000'000'000ull);
  EXPECT_EQ(k.retries, 5);
  EXPECT_EQ(k.retry_backoff_ns, 50'000'000ull);
  EXPECT_EQ(k.pod_refresh_ns, 30'000'000'000ull);
  EXPECT_EQ(k.be_label, "example.com/tier");
  EXPECT_EQ(k.be_qos_classes.size(), 2u);
  EXPECT_FALSE(k.resources.report);
  EXPECT_DOUBLE_EQ(k.resources.threshold, 0.1);
  EXPECT_EQ(k.resources.max_interval_ns, 60'000'000'000ull);
  EXPECT_FALSE(k.eviction.use_api);
  EXPECT_EQ(k.eviction.grace_period_ns, 5'000'000'000ull);
  EXPECT_TRUE(k.eviction.fallback_kill);
  EXPECT_EQ(k.node_policies, "/etc/p.yaml");
  EXPECT_EQ(k.node_labels_refresh_ns, 120'000'000'000ull);
}

struct Bad {
  std::string yaml;
  int line;
  std::string field, reason;
};

TEST(KubernetesConfig, ErrorsNameFieldAndLine) {
  for (auto& b : std::vector<Bad>{
           {"kubernetes:\n  enabled: yes\n", 2, "kubernetes.enabled", "true or false"},
           {"kubernetes:\n  api_server: 10.96.0.1:443\n", 2, "kubernetes.api_server", "http:// or https://"},
           {"kubernetes:\n  kubelet_url: ftp://x\n", 2, "kubernetes.kubelet_url", "URL"},
           {"kubernetes:\n  token_file: token\n", 2, "kubernetes.token_file", "absolute path"},
           {"kubernetes:\n  retries: 99\n", 2, "kubernetes.retries", "between 0 and 10"},
           {"kubernetes:\n  request_timeout: 1ms\n", 2, "kubernetes.request_timeout", "out of range"},
           {"kubernetes:\n  be_qos_classes: [BestEffort, Besteffort]\n", 2, "kubernetes.be_qos_classes", "Besteffort"},
           {"kubernetes:\n  resources:\n    threshold: 2\n", 3, "kubernetes.resources.threshold", "between 0 and 1"},
           {"kubernetes:\n  resources:\n    threshold: lots\n", 3, "kubernetes.resources.threshold", "fraction"},
           {"kubernetes:\n  eviction:\n    kill: true\n", 3, "kubernetes.eviction.kill", "unknown key"},
           {"kubernetes:\n  node_name: a/b\n", 2, "kubernetes.node_name", "node name"},
           {"kubernetes:\n  enable: true\n", 2, "kubernetes.enable", "unknown key"},
       }) {
    std::vector<ConfigError> errs;
    parse_config(b.yaml, &errs);
    ASSERT_EQ(errs.size(), 1u) << b.yaml;
    EXPECT_EQ(errs[0].line, b.line) << b.yaml;
    EXPECT_EQ(errs[0].field, b.field) << b.yaml;
    EXPECT_NE(errs[0].reason.find(b.reason), std::string::npos) << b.yaml << ": " << errs[0].reason;
  }
}

TEST(NodePolicies, DeployedFileChoosesByLabels) {
  std::string base = *read_file(kSrc + "/deploy/k8s/base/colo.yaml");
  std::string pol = *read_file(kSrc + "/deploy/k8s/base/policies.yaml");
  std::vector<ConfigError> errs;
  auto d = k8s::choose_node_policy(base, pol, {{"kubernetes.io/hostname", "n1"}}, &errs);
  ASSERT_TRUE(d) << format_config_errors("policies.yaml", errs);
  EXPECT_EQ(d->group, "default");
  EXPECT_DOUBLE_EQ(d->config.policy.cpu_watermark, 0.70);
  // The agent's own settings stay under the merged policy.
  EXPECT_TRUE(d->config.kubernetes.enabled);
  EXPECT_EQ(d->config.cgroup.bigbox, "/kubepods.slice/kubepods-besteffort.slice");

  auto f = k8s::choose_node_policy(base, pol, {{"colo.io/node-group", "frontend"}}, &errs);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->group, "frontend");
  EXPECT_DOUBLE_EQ(f->config.policy.cpu_watermark, 0.50);
  EXPECT_DOUBLE_EQ(f->config.policy.memory_watermark, 0.80);  // from default, merged key by key
  EXPECT_EQ(f->config.policy.windows.size(), 1u);
}

TEST(NodePolicies, FirstMatchWinsAndAllLabelsMustMatch) {
  std::string pol = R"(default:
  policy: {cpu_watermark: 0.6}
overrides:
  - name: a
    node_selector: {zone: z1, tier: gold}
    config: {policy: {cpu_watermark: 0.3}}
  - name: b
    node_selector: {zone: z1}
    config: {controller: {floor: 0.5}}
  - name: c
    node_selector: {zone: z1}
    config: {policy: {cpu_watermark: 0.9}}
)";
  std::vector<ConfigError> errs;
  auto r = k8s::choose_node_policy("", pol, {{"zone", "z1"}}, &errs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->group, "b");
  EXPECT_DOUBLE_EQ(r->config.policy.cpu_watermark, 0.6);
  EXPECT_DOUBLE_EQ(r->config.controller.floor, 0.5);
  r = k8s::choose_node_policy("", pol, {{"zone", "z1"}, {"tier", "gold"}}, &errs);
  EXPECT_EQ(r->group, "a");
  r = k8s::choose_node_policy("", pol, {{"zone", "z2"}, {"tier", "gold"}}, &errs);
  EXPECT_EQ(r->group, "default");
}

TEST(NodePolicies, ErrorsWithLinesOfThePoliciesFile) {
  struct Case {
    std::string text;
    int line;
    std::string field, reason;
  };
  for (auto& c : std::vector<Case>{
           {"default:\n  agent: {log_level: debug}\n", 2, "default.agent", "unknown key"},
           {"default:\n  policy:\n    cpu_watermark: 7\n", 3, "default.policy.cpu_watermark", ""},
           {"overrides:\n  - name: x\n    config: {}\n", 2, "overrides[0].node_selector", "required"},
           {"overrides:\n  - node_selector: {a: b}\n", 2, "overrides[0].name", "required"},
           {"overrides:\n  - name: x\n    node_selector: {}\n", 3, "overrides[0].node_selector", "non-empty"},
           {"overrides: {name: x}\n", 1, "overrides", "list"},
           {"defaults:\n  policy: {}\n", 1, "defaults", "unknown key"},
           {"default: [\n", 2, "(syntax)", ""},
       }) {
    std::vector<ConfigError> errs;
    EXPECT_FALSE(k8s::choose_node_policy("", c.text, {}, &errs)) << c.text;
    ASSERT_FALSE(errs.empty()) << c.text;
    EXPECT_EQ(errs[0].line, c.line) << c.text;
    EXPECT_EQ(errs[0].field, c.field) << c.text;
    EXPECT_NE(errs[0].reason.find(c.reason), std::string::npos) << c.text << ": " << errs[0].reason;
  }
}

}  // namespace
}  // namespace colo
