#include "userspace/util/parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace colo {
namespace {

using Cpus = std::vector<int>;

TEST(ParseCpuList, AcceptsKernelLists) {
  const std::pair<std::string_view, Cpus> cases[] = {
      {"", {}},
      {"\n", {}},
      {"0", {0}},
      {"0\n", {0}},
      {"0-3", {0, 1, 2, 3}},
      {"0-3,8,10-11\n", {0, 1, 2, 3, 8, 10, 11}},
      {"5-5", {5}},
      {"3,1,2", {1, 2, 3}},
      {"0-2,1-3,2", {0, 1, 2, 3}},
      {"0-1 \t\n", {0, 1}},
      {"007", {7}},
      {"1048575", {1048575}},
  };
  for (auto [text, want] : cases) {
    auto got = parse_cpu_list(text);
    ASSERT_TRUE(got) << "'" << text << "'";
    EXPECT_EQ(*got, want) << "'" << text << "'";
  }
}

TEST(ParseCpuList, RejectsJunk) {
  const std::string_view cases[] = {
      "3-1", "a", "1,,2", ",1", "1,", "-1", "1-", "-", "1-2-3", " 1", "1 ,2", "1, 2",
      "+1", "0x1", "1.5", "1\n2", "1\n\n2", "0-1048576", "1048576", "99999999999999999999",
      "0-99999999999999999999", std::string_view("1\0", 2), "0-3:2", "\xff",
  };
  for (auto text : cases) EXPECT_FALSE(parse_cpu_list(text)) << "'" << text << "'";
}

TEST(ParseCpuList, HugeOverlappingListsStayBounded) {
  std::string s;
  for (int i = 0; i < 1000; i++) s += "0-1048575,";
  s += "5";
  auto got = parse_cpu_list(s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 1u << 20);
  EXPECT_EQ(got->back(), (1 << 20) - 1);
}

TEST(FormatCpuList, CompactsRanges) {
  const std::pair<Cpus, std::string> cases[] = {
      {{}, ""},
      {{0}, "0"},
      {{0, 1}, "0-1"},
      {{0, 2}, "0,2"},
      {{0, 1, 2, 5}, "0-2,5"},
      {{5, 3, 4, 4}, "3-5"},
      {{0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"},
  };
  for (const auto& [cpus, want] : cases) EXPECT_EQ(format_cpu_list(cpus), want);
}

// A small fuzz: lists assembled from small numbers, separators and junk never
// crash the parser, and every accepted list survives format -> parse unchanged.
TEST(ParseCpuList, RandomInputsAreTotalAndRoundTrip) {
  std::mt19937 rng(1234);
  const char* pieces[] = {",", ",", "-", "-", " ", "\n", "a", "+"};
  int accepted = 0;
  for (int i = 0; i < 20000; i++) {
    std::string s;
    for (int n = rng() % 8; n > 0; n--)
      s += std::to_string(rng() % 300) + pieces[rng() % std::size(pieces)];
    auto cpus = parse_cpu_list(s);
    if (!cpus) continue;
    accepted++;
    EXPECT_TRUE(std::is_sorted(cpus->begin(), cpus->end())) << s;
    EXPECT_EQ(std::adjacent_find(cpus->begin(), cpus->end()), cpus->end()) << s;
    EXPECT_EQ(parse_cpu_list(format_cpu_list(*cpus)), cpus) << s;
  }
  EXPECT_GT(accepted, 1000);
}

TEST(ParsePsi, SomeAndFull) {
  auto psi = parse_psi(
      "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
      "full avg10=0.10 avg60=0.00 avg300=0.00 total=789\n");
  ASSERT_TRUE(psi);
  ASSERT_TRUE(psi->some);
  EXPECT_DOUBLE_EQ(psi->some->avg10, 1.5);
  EXPECT_DOUBLE_EQ(psi->some->avg60, 0.25);
  EXPECT_DOUBLE_EQ(psi->some->avg300, 0.0);
  EXPECT_EQ(psi->some->total_us, 123456u);
  ASSERT_TRUE(psi->full);
  EXPECT_DOUBLE_EQ(psi->full->avg10, 0.1);
  EXPECT_EQ(psi->full->total_us, 789u);
}

TEST(ParsePsi, FullIsOptionalAndUnknownFieldsIgnored) {
  auto psi = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615 new=1");
  ASSERT_TRUE(psi);
  EXPECT_FALSE(psi->full);
  EXPECT_EQ(psi->some->total_us, UINT64_MAX);
}

TEST(ParsePsi, RejectsJunk) {
  const char* cases[] = {
      "",
      "\n",
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00\n",
      "some avg10=0.00 avg60=0.00 total=0\n",
      "some avg10=x avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=-1 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=nan avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=inf avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=-1\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=1.5\n",
      "some avg10 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      "other avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\ngarbage\n",
  };
  for (const char* text : cases) EXPECT_FALSE(parse_psi(text)) << text;
}

TEST(ParseFlatKeyed, ParsesNumbersAndSkipsTheRest) {
  auto m = parse_flat_keyed(
      "usage_usec 100\n"
      "user_usec\t60\n"
      "nr_periods 0\n"
      "big 18446744073709551615\n"
      "\n"
      "lonely\n"
      "word abc\n"
      "neg -1\n"
      "three 1 2\n"
      "over 18446744073709551616\n"
      "usage_usec 101\n");
  const std::map<std::string, uint64_t> want = {
      {"usage_usec", 101}, {"user_usec", 60}, {"nr_periods", 0}, {"big", UINT64_MAX}};
  EXPECT_EQ(m, want);
  EXPECT_TRUE(parse_flat_keyed("").empty());
}

TEST(ParseProcCgroup, HybridHost) {
  auto e = parse_proc_cgroup(
      "12:pids:/user.slice/user-0.slice\n"
      "4:cpu,cpuacct:/\n"
      "1:name=systemd:/user.slice/a:b.scope\n"
      "0::/user.slice/user-0.slice/session-1.scope\n");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->size(), 4u);
  EXPECT_EQ((*e)[0].hierarchy, 12u);
  EXPECT_EQ((*e)[0].controllers, std::vector<std::string>{"pids"});
  EXPECT_EQ((*e)[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ((*e)[1].path, "/");
  EXPECT_EQ((*e)[2].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_EQ((*e)[2].path, "/user.slice/a:b.scope");
  EXPECT_EQ((*e)[3].hierarchy, 0u);
  EXPECT_TRUE((*e)[3].controllers.empty());
  EXPECT_EQ((*e)[3].path, "/user.slice/user-0.slice/session-1.scope");
}

TEST(ParseProcCgroup, RejectsJunk) {
  const char* cases[] = {"",          "\n",        "x:cpu:/",     "1:cpu",       "1:cpu:",
                         "1:cpu:rel", "-1:cpu:/",  "1:cpu,,memory:/", "1:,cpu:/", ":cpu:/",
                         "0::/\ngarbage\n"};
  for (const char* text : cases) EXPECT_FALSE(parse_proc_cgroup(text)) << text;
}

TEST(ParseTotal, RandomBytesNeverCrash) {
  std::mt19937 rng(99);
  for (int i = 0; i < 5000; i++) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    parse_cpu_list(s);
    parse_psi(s);
    parse_flat_keyed(s);
    parse_proc_cgroup(s);
  }
}

TEST(ParseProcStat, FieldsAfterTheLastParenthesisOfComm) {
  // comm with spaces and parentheses; flags 4194624 (0x400040); starttime 1234.
  const std::string stat =
      "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194624 10 0 0 0 5 6 0 0 20 0 1 0 1234 1000 50\n";
  auto f = parse_proc_stat_fields(stat);
  ASSERT_EQ(f.size(), 22u);
  EXPECT_EQ(f[0], "S");
  EXPECT_EQ(f[6], "4194624");
  EXPECT_EQ(f[19], "1234");
  EXPECT_EQ(f[21], "50") << "no newline left on the last field";
  EXPECT_TRUE(parse_proc_stat_fields("no parenthesis at all").empty());
  EXPECT_TRUE(parse_proc_stat_fields("").empty());
}

}  // namespace
}  // namespace colo
