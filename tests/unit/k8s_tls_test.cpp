// https to the API server and the kubelet: Debian's cpp-httplib is built with
// OpenSSL (CPPHTTPLIB_OPENSSL_SUPPORT), so colo verifies the server against
// the configured CA file. A self-signed certificate for 127.0.0.1 is made
// with the openssl CLI for the test.
#include <gtest/gtest.h>

#include <cstdlib>

#include "agent/k8s/api_client.h"
#include "k8s_test_server.h"
#include "support/temp_dir.h"

namespace colo::k8s {
namespace {

using namespace std::chrono_literals;

#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
TEST(ApiClientTls, VerifiesAgainstTheCaFile) {
  test::TempDir tmp{"colo-k8s-tls"};
  std::string cert = tmp.path() + "/cert.pem", key = tmp.path() + "/key.pem";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                    "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                    " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI needed (Debian package openssl)";
  httplib::SSLServer ssl(cert.c_str(), key.c_str());
  ASSERT_TRUE(ssl.is_valid());
  test::FakeKubeServer srv(&ssl);
  srv.script("GET /pods", {{200, test::k8s_fixture("kubelet-pods-containerd.json")}});

  ApiClient::Options o;
  o.base_url = srv.url("https") + "/pods";
  o.token_file = tmp.put("token", "tls-token");
  o.retries = 0;
  o.timeout = 5s;
  o.ca_file = cert;
  auto r = ApiClient(o).request("GET", "");
  EXPECT_EQ(r.status, 200) << r.error;
  ASSERT_EQ(srv.requests().size(), 1u);
  EXPECT_EQ(srv.requests()[0].header("Authorization"), "Bearer tls-token");

  // Not signed by a CA we trust: no request goes through.
  o.ca_file = "";
  r = ApiClient(o).request("GET", "");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(srv.requests().size(), 1u);
  // Unless verification is turned off explicitly (kubelet_insecure_skip_tls_verify).
  o.insecure_skip_tls_verify = true;
  r = ApiClient(o).request("GET", "");
  EXPECT_EQ(r.status, 200) << r.error;
}
#endif

}  // namespace
}  // namespace colo::k8s
