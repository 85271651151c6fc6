// The agent's control socket: a unix stream socket (mode 0600) speaking one
// JSON request line -> one JSON response per connection.
#pragma once
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace colo {

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  ControlServer() = default;
  ~ControlServer();
  // Creates the socket (parent directory 0700, socket 0600); false + *err.
  bool start(const std::string& path, Handler handler, std::string* err);
  void stop();

 private:
  void serve();
  std::string path_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  Handler handler_;
  std::thread thread_;
};

// Client side: sends `request`, returns the response or nullopt + *err.
std::optional<nlohmann::json> control_request(const std::string& path,
                                              const nlohmann::json& request, std::string* err,
                                              int timeout_ms = 5000);

}  // namespace colo
