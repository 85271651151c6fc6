// network.limit: rates as tc writes them, validation with FILE:LINE, defaults.
#include <gtest/gtest.h>

#include "agent/config.h"

namespace colo {
namespace {

TEST(NetConfig, Rates) {
  EXPECT_EQ(parse_rate_bytes_per_second("100mbit"), 12'500'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("1gbit"), 125'000'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("1.5gbit"), 187'500'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("800kbit"), 100'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("64bit"), 8u);
  EXPECT_EQ(parse_rate_bytes_per_second("12500kbps"), 12'500'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("2mbps"), 2'000'000u);
  EXPECT_EQ(parse_rate_bytes_per_second("100bps"), 100u);
  for (const char* bad : {"", "100", "mbit", "10 mbit", "1Mbit", "-5mbit", "4bit/s", "0kbit",
                          "1.2.3mbit", "99999999tbit"})
    EXPECT_FALSE(parse_rate_bytes_per_second(bad)) << bad;
}

TEST(NetConfig, DefaultsAreOffAndTheDefaultYamlMatches) {
  std::vector<ConfigError> errs;
  Config c = parse_config(default_config_yaml(), &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("default", errs);
  EgressLimitConfig d;
  EXPECT_FALSE(c.network.limit.enabled);
  EXPECT_EQ(c.network.limit.high, d.high);
  EXPECT_EQ(c.network.limit.low, d.low);
  EXPECT_EQ(c.network.limit.ls_watermark, d.ls_watermark);
  EXPECT_EQ(c.network.limit.window_ns, d.window_ns);
  EXPECT_EQ(c.network.limit.hold_ns, d.hold_ns);
  EXPECT_TRUE(c.network.limit.cgroups.empty());
}

TEST(NetConfig, ParsesLimit) {
  std::vector<ConfigError> errs;
  Config c = parse_config(R"(
cgroup:
  bigbox: /box
network:
  interfaces: [lo]
  limit:
    enabled: true
    high: 160mbit
    low: 4mbps
    ls_watermark: 80mbit
    window: 20ms
    hold: 300ms
    cgroups:
      /box/job: 40mbit
      /box/job/inner: 1mbit
)",
                          &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("f", errs);
  const auto& L = c.network.limit;
  EXPECT_TRUE(L.enabled);
  EXPECT_EQ(L.high, 20'000'000u);
  EXPECT_EQ(L.low, 4'000'000u);
  EXPECT_EQ(L.ls_watermark, 10'000'000u);
  EXPECT_EQ(L.window_ns, 20'000'000u);
  EXPECT_EQ(L.hold_ns, 300'000'000u);
  ASSERT_EQ(L.cgroups.size(), 2u);
  EXPECT_EQ(L.cgroups[0], std::make_pair(std::string("/box/job"), uint64_t{5'000'000}));
  EXPECT_EQ(L.cgroups[1].first, "/box/job/inner");
}

TEST(NetConfig, BadValuesNameFieldAndLine) {
  std::vector<ConfigError> errs;
  parse_config(R"(network:
  limit:
    enabled: yes
    high: 10mb
    low: 20mbit
    window: 5ms
    hold: soon
    colour: red
    cgroups:
      /elsewhere: 1mbit
      /colo.slice/bigbox/a: fast
)",
               &errs);
  std::string all = format_config_errors("f.yaml", errs);
  EXPECT_NE(all.find("f.yaml:3: network.limit.enabled: expected true or false"), std::string::npos)
      << all;
  EXPECT_NE(all.find("f.yaml:4: network.limit.high: expected a rate"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:6: network.limit.window: out of range"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:7: network.limit.hold:"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:8: network.limit.colour: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:10: network.limit.cgroups./elsewhere: must be a cgroup inside the "
                     "big box (/colo.slice/bigbox)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("f.yaml:11: network.limit.cgroups./colo.slice/bigbox/a: expected a rate"),
            std::string::npos)
      << all;
}

TEST(NetConfig, LowAboveHighIsRejected) {
  std::vector<ConfigError> errs;
  parse_config("network:\n  limit:\n    high: 10mbit\n    low: 20mbit\n", &errs);
  std::string all = format_config_errors("f", errs);
  EXPECT_NE(all.find("f:4: network.limit.low: must not exceed network.limit.high"),
            std::string::npos)
      << all;
}

}  // namespace
}  // namespace colo
