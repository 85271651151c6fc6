// A small HTTP(S) client for the Kubernetes API server and the kubelet:
// bearer token from a file (re-read on every request, so rotated tokens
// work), CA file, timeouts, and retries with exponential backoff on transport
// errors and on the statuses the caller marks retryable. Never throws.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace colo::k8s {

struct HttpResult {
  int status = 0;           // 0: no response (connection refused, timeout, TLS error)
  std::string body;
  std::string error;        // for status 0
  int attempts = 0;
  bool ok() const { return status >= 200 && status < 300; }
};

// "https://host:port/base" -> {"https://host:port", "/base"}; nullopt if not http(s).
struct Url {
  std::string origin, path;
};
std::optional<Url> parse_url(const std::string& url);

class ApiClient {
 public:
  struct Options {
    std::string base_url;     // scheme://host:port[/prefix]
    std::string token_file;   // "" = no Authorization header
    std::string ca_file;      // "" = system roots
    bool insecure_skip_tls_verify = false;
    std::chrono::nanoseconds timeout{std::chrono::seconds(5)};
    int retries = 3;
    std::chrono::nanoseconds backoff{std::chrono::milliseconds(200)};
  };
  using Sleeper = std::function<void(std::chrono::nanoseconds)>;
  using Retryable = std::function<bool(const HttpResult&)>;
  // Default: no response, 429 or 5xx.
  static bool default_retryable(const HttpResult& r);

  explicit ApiClient(Options o, Sleeper sleeper = nullptr);
  bool valid() const { return url_.has_value(); }
  const Options& options() const { return o_; }

  // method: GET | POST | PATCH. `path` is appended to the base URL's prefix.
  HttpResult request(const std::string& method, const std::string& path,
                     const std::string& body = "", const std::string& content_type = "",
                     const Retryable& retryable = default_retryable) const;

 private:
  HttpResult once(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type) const;
  Options o_;
  std::optional<Url> url_;
  Sleeper sleep_;
};

// The in-cluster API server from KUBERNETES_SERVICE_HOST/PORT ("" if unset).
std::string in_cluster_api_server();

}  // namespace colo::k8s
