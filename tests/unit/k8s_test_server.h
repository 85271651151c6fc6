// A small HTTP server on 127.0.0.1 for the Kubernetes tests: serves recorded
// answers from a script and records every request (method, path, headers,
// body) for field-by-field checks.
#pragma once
#include <httplib.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "userspace/util/fs.h"

namespace colo::test {

struct Recorded {
  std::string method, path, body;
  std::multimap<std::string, std::string> headers;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};

struct Answer {
  int status = 200;
  std::string body;
  std::chrono::milliseconds delay{0};  // to provoke client timeouts
};

class FakeKubeServer {
 public:
  explicit FakeKubeServer(httplib::Server* srv = nullptr) : srv_(srv ? srv : &own_) {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      Answer a;
      {
        std::lock_guard<std::mutex> l(mu_);
        Recorded r{req.method, req.path, req.body, {}};
        for (auto& [k, v] : req.headers) r.headers.emplace(k, v);
        requests_.push_back(r);
        auto key = req.method + " " + req.path;
        auto it = scripts_.find(key);
        if (it != scripts_.end() && !it->second.empty()) {
          a = it->second.front();
          if (it->second.size() > 1) it->second.pop_front();  // the last answer repeats
        } else {
          a = {404, R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":404})"};
        }
      }
      if (a.delay.count()) std::this_thread::sleep_for(a.delay);
      res.status = a.status;
      res.set_content(a.body, "application/json");
    };
    srv_->Get(".*", handle);
    srv_->Post(".*", handle);
    srv_->Patch(".*", handle);
    port_ = srv_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_->listen_after_bind(); });
    for (int i = 0; i < 500 && !srv_->is_running(); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeKubeServer() {
    srv_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // Answers for "METHOD /path", in order; the last one repeats.
  void script(const std::string& key, std::vector<Answer> answers) {
    std::lock_guard<std::mutex> l(mu_);
    scripts_[key] = std::deque<Answer>(answers.begin(), answers.end());
  }
  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  void clear() {
    std::lock_guard<std::mutex> l(mu_);
    requests_.clear();
  }
  int port() const { return port_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  httplib::Server own_;
  httplib::Server* srv_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Recorded> requests_;
  std::map<std::string, std::deque<Answer>> scripts_;
};

inline std::string k8s_fixture(const std::string& name) {
  return read_file(std::string(COLO_FIXTURES_DIR) + "/k8s/" + name).value_or("");
}

}  // namespace colo::test
