// The Kubernetes clients against recorded answers served on 127.0.0.1:
// requests checked field by field, errors and timeouts handled.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/k8s/api_client.h"
#include "agent/k8s/node_api.h"
#include "agent/k8s/pods.h"
#include "agent/policy/clock.h"
#include "k8s_test_server.h"
#include "support/temp_dir.h"

namespace colo::k8s {
namespace {

using nlohmann::json;
using test::Answer;
using test::FakeKubeServer;
using test::k8s_fixture;
using namespace std::chrono_literals;

struct Env {
  test::TempDir tmp{"colo-k8s"};
  FakeKubeServer srv;
  std::vector<std::chrono::nanoseconds> slept;
  std::string token_file = tmp.put("token", "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.payload.sig\n");

  ApiClient client(const std::string& path = "", int retries = 3,
                   std::chrono::nanoseconds timeout = 2s) {
    ApiClient::Options o;
    o.base_url = srv.url() + path;
    o.token_file = token_file;
    o.retries = retries;
    o.timeout = timeout;
    o.backoff = 200ms;
    return ApiClient(o, [this](std::chrono::nanoseconds d) { slept.push_back(d); });
  }
};

const std::string kBearer = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.payload.sig";

TEST(ApiClient, Urls) {
  auto u = parse_url("https://10.0.0.11:10250/pods/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->origin, "https://10.0.0.11:10250");
  EXPECT_EQ(u->path, "/pods");
  EXPECT_FALSE(parse_url("10.0.0.11:10250"));
  EXPECT_FALSE(parse_url("https://"));
  ApiClient bad(ApiClient::Options{"ftp://x"});
  EXPECT_FALSE(bad.valid());
  auto r = bad.request("GET", "/");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("invalid URL"), std::string::npos);
}

TEST(Kubelet, PodListWithTokenAndRetries) {
  Env e;
  e.srv.script("GET /pods", {{500, "internal error"}, {503, ""}, {200, k8s_fixture("kubelet-pods-containerd.json")}});
  auto kubelet = e.client("/pods");
  std::string err;
  auto pods = fetch_pods(kubelet, &err);
  ASSERT_TRUE(pods) << err;
  EXPECT_EQ(pods->size(), 6u);
  auto reqs = e.srv.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (auto& r : reqs) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, "/pods");
    EXPECT_EQ(r.header("Authorization"), kBearer);
    EXPECT_EQ(r.header("Accept"), "application/json");
  }
  // Exponential backoff between the attempts, through the injected sleeper.
  ASSERT_EQ(e.slept.size(), 2u);
  EXPECT_EQ(e.slept[0], 200ms);
  EXPECT_EQ(e.slept[1], 400ms);
}

TEST(Kubelet, GivesUpAfterRetriesWithoutCrashing) {
  Env e;
  e.srv.script("GET /pods", {{500, "{}"}});
  auto kubelet = e.client("/pods", 2);
  std::string err;
  EXPECT_FALSE(fetch_pods(kubelet, &err));
  EXPECT_NE(err.find("500"), std::string::npos);
  EXPECT_EQ(e.srv.requests().size(), 3u);
  // Garbage with 200: an error, not a crash.
  e.srv.script("GET /pods", {{200, "<html>proxy error</html>"}});
  EXPECT_FALSE(fetch_pods(kubelet, &err));
  EXPECT_NE(err.find("not valid JSON"), std::string::npos);
  // 403 (RBAC): not retried.
  e.srv.clear();
  e.srv.script("GET /pods", {{403, R"({"kind":"Status","code":403})"}});
  EXPECT_FALSE(fetch_pods(kubelet, &err));
  EXPECT_EQ(e.srv.requests().size(), 1u);
}

TEST(Kubelet, TimeoutIsRetriedThenReported) {
  Env e;
  e.srv.script("GET /pods", {{200, k8s_fixture("kubelet-pods-containerd.json"), 600ms}});
  auto kubelet = e.client("/pods", 1, 150ms);
  std::string err;
  EXPECT_FALSE(fetch_pods(kubelet, &err));
  EXPECT_NE(err.find("unreachable"), std::string::npos) << err;
  EXPECT_EQ(e.slept.size(), 1u);
}

TEST(Kubelet, ConnectionRefused) {
  int port;
  {
    FakeKubeServer gone;
    port = gone.port();
  }
  ApiClient::Options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/pods";
  o.retries = 2;
  int sleeps = 0;
  ApiClient c(o, [&](std::chrono::nanoseconds) { sleeps++; });
  auto r = c.request("GET", "");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(sleeps, 2);
  EXPECT_FALSE(r.error.empty());
}

TEST(NodeLabels, FromNodeObject) {
  Env e;
  e.srv.script("GET /api/v1/nodes/worker-1", {{200, k8s_fixture("node-worker-1.json")}});
  auto api = e.client();
  std::string err;
  auto l = fetch_node_labels(api, "worker-1", &err);
  ASSERT_TRUE(l) << err;
  EXPECT_EQ(l->at("colo.io/node-group"), "batch");
  EXPECT_EQ(l->at("kubernetes.io/hostname"), "worker-1");
  EXPECT_EQ(e.srv.requests()[0].header("Authorization"), kBearer);
  EXPECT_FALSE(fetch_node_labels(api, "worker-2", &err));  // 404
  EXPECT_NE(err.find("404"), std::string::npos);
}

TEST(NodeResources, PatchFieldByField) {
  Env e;
  e.srv.script("PATCH /api/v1/nodes/worker-1/status", {{200, k8s_fixture("node-worker-1.json")}});
  auto api = e.client();
  policy::FakeClock clock;
  KubernetesConfig::Resources cfg;  // threshold 5%, max interval 5m
  NodeResourceReporter rep(api, "worker-1", cfg, clock);

  EXPECT_EQ(rep.update(2.5, 4ull << 30), NodeResourceReporter::Outcome::Patched);
  auto reqs = e.srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PATCH");
  EXPECT_EQ(reqs[0].path, "/api/v1/nodes/worker-1/status");
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(reqs[0].header("Authorization"), kBearer);
  auto body = json::parse(reqs[0].body);
  json want_q = {{"colo.io/batch-cpu", "2500"}, {"colo.io/batch-memory", "4294967296"}};
  EXPECT_EQ(body, (json{{"status", {{"capacity", want_q}, {"allocatable", want_q}}}}));

  // 2% more CPU: under the threshold, no request.
  clock.advance(10s);
  EXPECT_EQ(rep.update(2.55, 4ull << 30), NodeResourceReporter::Outcome::Unchanged);
  // 10% less memory: a patch.
  clock.advance(10s);
  EXPECT_EQ(rep.update(2.55, (4ull << 30) * 9 / 10), NodeResourceReporter::Outcome::Patched);
  EXPECT_EQ(json::parse(e.srv.requests().back().body)["status"]["capacity"]["colo.io/batch-cpu"], "2550");
  // Nothing changes: quiet until max_interval, then the same values again.
  clock.advance(4min);
  EXPECT_EQ(rep.update(2.55, (4ull << 30) * 9 / 10), NodeResourceReporter::Outcome::Unchanged);
  clock.advance(61s);
  EXPECT_EQ(rep.update(2.55, (4ull << 30) * 9 / 10), NodeResourceReporter::Outcome::Patched);
  EXPECT_EQ(e.srv.requests().size(), 3u);
  // Down to zero (e.g. colocation disabled): a patch with "0".
  EXPECT_EQ(rep.update(0, 0), NodeResourceReporter::Outcome::Patched);
  EXPECT_EQ(json::parse(e.srv.requests().back().body)["status"]["allocatable"]["colo.io/batch-memory"], "0");
}

TEST(NodeResources, ServerErrorsBackOffAndNeverCrash) {
  Env e;
  e.srv.script("PATCH /api/v1/nodes/worker-1/status", {{500, "{}"}, {500, "{}"}, {500, "{}"}, {429, "{}"}, {200, "{}"}});
  auto api = e.client("", 0);  // no in-request retries: the reporter's backoff
  policy::FakeClock clock;
  NodeResourceReporter rep(api, "worker-1", KubernetesConfig::Resources{}, clock);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Failed);
  EXPECT_FALSE(rep.last_reported());
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Backoff);  // within 1s
  clock.advance(1s);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Failed);   // wait now 2s
  clock.advance(1s);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Backoff);
  clock.advance(1s);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Failed);
  clock.advance(4s);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Failed);   // 429
  clock.advance(8s);
  EXPECT_EQ(rep.update(1, 1 << 30), NodeResourceReporter::Outcome::Patched);
  EXPECT_EQ(e.srv.requests().size(), 5u);
  ASSERT_TRUE(rep.last_reported());
  EXPECT_EQ(rep.last_reported()->first, 1000);
  // Reporting off: nothing is sent.
  KubernetesConfig::Resources off;
  off.report = false;
  rep.reconfigure(off);
  EXPECT_EQ(rep.update(5, 5ull << 30), NodeResourceReporter::Outcome::Unchanged);
  EXPECT_EQ(e.srv.requests().size(), 5u);
}

const std::string kEvictPath = "/api/v1/namespaces/batch/pods/spark-exec-1/eviction";

TEST(Eviction, PostFieldByField) {
  Env e;
  e.srv.script("POST " + kEvictPath, {{201, k8s_fixture("eviction-created.json")}});
  auto api = e.client();
  KubernetesConfig::Eviction cfg;
  bool killed = false;
  auto r = evict_pod(api, cfg, "batch", "spark-exec-1", [&] { return killed = true; });
  EXPECT_EQ(r.outcome, EvictOutcome::Evicted);
  EXPECT_EQ(r.status, 201);
  EXPECT_FALSE(killed);
  auto reqs = e.srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, kEvictPath);
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].header("Authorization"), kBearer);
  auto body = json::parse(reqs[0].body);
  EXPECT_EQ(body["apiVersion"], "policy/v1");
  EXPECT_EQ(body["kind"], "Eviction");
  EXPECT_EQ(body["metadata"]["name"], "spark-exec-1");
  EXPECT_EQ(body["metadata"]["namespace"], "batch");
  EXPECT_EQ(body["deleteOptions"]["gracePeriodSeconds"], 30);
  EXPECT_EQ(body.size(), 4u);
}

TEST(Eviction, BudgetRefusalIsNotRetriedAndNeverKills) {
  for (auto [status, file] : {std::pair{429, "eviction-pdb-429.json"}, std::pair{409, "eviction-conflict-409.json"}}) {
    Env e;
    e.srv.script("POST " + kEvictPath, {{status, k8s_fixture(file)}});
    auto api = e.client();
    KubernetesConfig::Eviction cfg;
    cfg.fallback_kill = true;  // even so: a PodDisruptionBudget holds
    bool killed = false;
    auto r = evict_pod(api, cfg, "batch", "spark-exec-1", [&] { return killed = true; });
    EXPECT_EQ(r.outcome, EvictOutcome::Blocked) << status;
    EXPECT_EQ(r.status, status);
    EXPECT_FALSE(killed);
    EXPECT_EQ(e.srv.requests().size(), 1u);
    EXPECT_TRUE(e.slept.empty());
    if (status == 429) {
      EXPECT_NE(r.message.find("disruption budget"), std::string::npos);
    }
  }
}

TEST(Eviction, ServerErrorRetriedThenFailsWithoutKilling) {
  Env e;
  e.srv.script("POST " + kEvictPath, {{500, k8s_fixture("eviction-multiple-pdb-500.json")}});
  auto api = e.client("", 2);
  KubernetesConfig::Eviction cfg;
  cfg.fallback_kill = true;  // the API answered: no fallback
  bool killed = false;
  auto r = evict_pod(api, cfg, "batch", "spark-exec-1", [&] { return killed = true; });
  EXPECT_EQ(r.outcome, EvictOutcome::Failed);
  EXPECT_EQ(e.srv.requests().size(), 3u);
  EXPECT_EQ(e.slept.size(), 2u);
  EXPECT_FALSE(killed);
  EXPECT_NE(r.message.find("more than one PodDisruptionBudget"), std::string::npos);
  // Retried 5xx then accepted.
  Env e2;
  e2.srv.script("POST " + kEvictPath, {{503, "{}"}, {201, k8s_fixture("eviction-created.json")}});
  auto api2 = e2.client();
  EXPECT_EQ(evict_pod(api2, cfg, "batch", "spark-exec-1", nullptr).outcome, EvictOutcome::Evicted);
}

TEST(Eviction, GoneIsDone) {
  Env e;
  e.srv.script("POST " + kEvictPath, {{404, k8s_fixture("pod-not-found-404.json")}});
  auto api = e.client();
  auto r = evict_pod(api, KubernetesConfig::Eviction{}, "batch", "spark-exec-1", nullptr);
  EXPECT_EQ(r.outcome, EvictOutcome::Gone);
}

TEST(Eviction, UnreachableKillsOnlyWhenConfigured) {
  Env e;
  e.srv.script("POST " + kEvictPath, {{201, "{}", 500ms}});  // slower than the timeout
  auto api = e.client("", 1, 100ms);
  KubernetesConfig::Eviction cfg;
  int kills = 0;
  auto r = evict_pod(api, cfg, "batch", "spark-exec-1", [&] { return ++kills > 0; });
  EXPECT_EQ(r.outcome, EvictOutcome::Failed);
  EXPECT_EQ(kills, 0);
  cfg.fallback_kill = true;
  r = evict_pod(api, cfg, "batch", "spark-exec-1", [&] { return ++kills > 0; });
  EXPECT_EQ(r.outcome, EvictOutcome::Killed);
  EXPECT_EQ(kills, 1);
  // The fallback found nothing to kill: Failed.
  r = evict_pod(api, cfg, "batch", "spark-exec-1", [] { return false; });
  EXPECT_EQ(r.outcome, EvictOutcome::Failed);
}

}  // namespace
}  // namespace colo::k8s
