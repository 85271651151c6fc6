#include "agent/k8s/api_client.h"

#include <httplib.h>

#include <cstdlib>
#include <thread>

#include "userspace/util/fs.h"
#include "userspace/util/log.h"

namespace colo::k8s {

std::optional<Url> parse_url(const std::string& url) {
  size_t scheme_end;
  if (url.rfind("http://", 0) == 0) scheme_end = 7;
  else if (url.rfind("https://", 0) == 0) scheme_end = 8;
  else return std::nullopt;
  size_t slash = url.find('/', scheme_end);
  Url u;
  u.origin = url.substr(0, slash);
  u.path = slash == std::string::npos ? "" : url.substr(slash);
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  if (u.origin.size() <= scheme_end) return std::nullopt;
  return u;
}

std::string in_cluster_api_server() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) return "";
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  return "https://" + h + ":" + (port && *port ? port : "443");
}

bool ApiClient::default_retryable(const HttpResult& r) {
  return r.status == 0 || r.status == 429 || r.status >= 500;
}

ApiClient::ApiClient(Options o, Sleeper sleeper)
    : o_(std::move(o)), url_(parse_url(o_.base_url)), sleep_(std::move(sleeper)) {
  if (!sleep_) sleep_ = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
}

HttpResult ApiClient::once(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type) const {
  HttpResult r;
  httplib::Client cli(url_->origin);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(o_.timeout);
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(o_.timeout - secs);
  cli.set_connection_timeout(secs.count(), usecs.count());
  cli.set_read_timeout(secs.count(), usecs.count());
  cli.set_write_timeout(secs.count(), usecs.count());
  cli.set_keep_alive(false);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (url_->origin.rfind("https://", 0) == 0) {
    if (!o_.ca_file.empty()) cli.set_ca_cert_path(o_.ca_file.c_str());
    cli.enable_server_certificate_verification(!o_.insecure_skip_tls_verify);
  }
#endif
  httplib::Headers h = {{"Accept", "application/json"}, {"User-Agent", "colo-agent"}};
  if (!o_.token_file.empty()) {
    auto tok = read_file(o_.token_file);
    if (tok && !trim(*tok).empty())
      h.emplace("Authorization", "Bearer " + std::string(trim(*tok)));
    else
      LOG_WARN_ONCE("k8s-token:" + o_.token_file, "kubernetes: cannot read the token %s; "
                    "requests go without credentials", o_.token_file.c_str());
  }
  std::string full = url_->path + path;
  httplib::Result res{nullptr, httplib::Error::Unknown};
  if (method == "GET") res = cli.Get(full, h);
  else if (method == "POST") res = cli.Post(full, h, body, content_type.c_str());
  else if (method == "PATCH") res = cli.Patch(full, h, body, content_type.c_str());
  else {
    r.error = "unsupported method " + method;
    return r;
  }
  if (!res) {
    r.error = httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.body = res->body;
  return r;
}

HttpResult ApiClient::request(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type,
                              const Retryable& retryable) const {
  if (!url_) return HttpResult{0, "", "invalid URL '" + o_.base_url + "'", 0};
  HttpResult r;
  auto wait = o_.backoff;
  for (int attempt = 0;; attempt++) {
    r = once(method, path, body, content_type);
    r.attempts = attempt + 1;
    if (!retryable(r) || attempt >= o_.retries) break;
    LOG_DEBUG("kubernetes: %s %s: %s; retry in %lld ms", method.c_str(), path.c_str(),
              r.status ? std::to_string(r.status).c_str() : r.error.c_str(),
              static_cast<long long>(wait.count() / 1000000));
    sleep_(wait);
    wait *= 2;
  }
  return r;
}

}  // namespace colo::k8s
