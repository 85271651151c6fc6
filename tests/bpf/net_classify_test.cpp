// colo_egress (bpf/net.bpf.c) as classifier through BPF_PROG_TEST_RUN: on an
// interface where colo limits BE egress, BE packets get the class id of their
// HTB leaf in skb->priority, everything else passes with its priority as it
// was (or, if that would name one of colo's classes, the direct queue); the
// verdict is always TC_ACT_OK; bytes are counted per interface and class.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bpf_fixture.h"
#include "colo_abi.h"
#include "colo_net.skel.h"

namespace colo::bpftest {
namespace {

using NetSkel = SkelPtr<colo_net, colo_net__destroy>;
constexpr int kTcActOk = 0;
constexpr uint32_t kLo = 1;

// The v2 cgroup id of this process (test-run skbs are charged to it), 0 if unknown.
uint64_t own_v2_cgroup_id() {
  std::string line, mnt;
  std::ifstream mi("/proc/self/mountinfo");
  while (std::getline(mi, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream ss(line);
    for (int i = 0; i < 5 && ss >> mnt; i++) {}
    break;
  }
  if (mnt.empty()) return 0;
  std::ifstream cg("/proc/self/cgroup");
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    struct stat st {};
    if (stat((mnt + line.substr(3)).c_str(), &st) == 0) return st.st_ino;
  }
  return 0;
}

// A minimal IPv4/UDP frame; the classifier does not parse it.
std::vector<uint8_t> frame(size_t size) {
  std::vector<uint8_t> f(size, 0);
  f[12] = 0x08;
  f[14] = 0x45;
  f[14 + 9] = 17;
  return f;
}

class NetClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_TRUE(pins_.create()) << pins_.error();
    auto oo = pins_.open_opts();
    skel_.reset(colo_net__open_opts(&oo));
    ASSERT_TRUE(skel_) << strerror(errno);
    ASSERT_EQ(0, colo_net__load(skel_.get()));
    prog_ = bpf_program__fd(skel_->progs.colo_egress);
    own_ = own_v2_cgroup_id();
  }

  void set_class(uint32_t cls) {
    colo_class_key k{own_, 0, 0};
    ASSERT_EQ(0, bpf_map_update_elem(bpf_map__fd(skel_->maps.colo_class), &k, &cls, BPF_ANY));
  }
  void shape(uint32_t ifindex, uint32_t on) {
    ASSERT_EQ(0, bpf_map_update_elem(bpf_map__fd(skel_->maps.colo_net_if), &ifindex, &on, BPF_ANY));
  }

  // Runs one packet with skb->priority `prio` on lo; returns the priority
  // it left with.
  uint32_t run(uint32_t prio, size_t size = 200) {
    auto f = frame(size);
    __sk_buff in{}, out{};
    in.ifindex = kLo;
    in.priority = prio;
    bpf_test_run_opts o{};
    o.sz = sizeof(o);
    o.data_in = f.data();
    o.data_size_in = static_cast<uint32_t>(f.size());
    o.ctx_in = &in;
    o.ctx_size_in = sizeof(in);
    o.ctx_out = &out;
    o.ctx_size_out = sizeof(out);
    int e = bpf_prog_test_run_opts(prog_, &o);
    EXPECT_EQ(0, e) << strerror(-e);
    EXPECT_EQ(static_cast<uint32_t>(kTcActOk), o.retval) << "colo_egress never drops";
    return out.priority;
  }

  colo_net_val by_class(uint32_t ifindex, uint32_t cls) {
    colo_net_class_key k{ifindex, cls};
    std::vector<colo_net_val> v(libbpf_num_possible_cpus());
    colo_net_val sum{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_net_class), &k, v.data()) == 0)
      for (auto& x : v) sum.bytes += x.bytes, sum.packets += x.packets;
    return sum;
  }

  PinDir pins_;
  NetSkel skel_;
  int prog_ = -1;
  uint64_t own_ = 0;
};

TEST_F(NetClassifyTest, LsPassesWithItsPriority) {
  shape(kLo, 1);
  EXPECT_EQ(run(0), 0u);
  EXPECT_EQ(run(6), 6u);
  EXPECT_EQ(run(0x10002), 0x10002u) << "another qdisc's class id is not colo's business";
  EXPECT_EQ(by_class(kLo, COLO_CLASS_LS).packets, 3u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_LS).bytes, 600u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).packets, 0u);
}

TEST_F(NetClassifyTest, LsNamingColosClassGoesToTheDirectQueue) {
  shape(kLo, 1);
  EXPECT_EQ(run(COLO_HTB_CLASSID(COLO_HTB_BE_MINOR)), COLO_HTB_CLASSID(0));
  EXPECT_EQ(run(COLO_HTB_CLASSID(COLO_HTB_BOX_MINOR)), COLO_HTB_CLASSID(0));
}

TEST_F(NetClassifyTest, BeGoesToTheBoxLeaf) {
  if (!own_) GTEST_SKIP() << "no cgroup v2 hierarchy: cannot name the sender's cgroup";
  set_class(COLO_CLASS_BE);
  shape(kLo, 1);
  EXPECT_EQ(run(0, 300), COLO_HTB_CLASSID(COLO_HTB_BE_MINOR));
  EXPECT_EQ(run(6, 300), COLO_HTB_CLASSID(COLO_HTB_BE_MINOR)) << "BE cannot escape by priority";
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).packets, 2u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).bytes, 600u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_LS).packets, 0u);
}

TEST_F(NetClassifyTest, BeCgroupWithItsOwnLeaf) {
  if (!own_) GTEST_SKIP() << "no cgroup v2 hierarchy";
  set_class(COLO_CLASS_BE);
  shape(kLo, 1);
  uint32_t minor = COLO_HTB_CG_MINOR_BASE + 3;
  ASSERT_EQ(0, bpf_map_update_elem(bpf_map__fd(skel_->maps.colo_net_cgcls), &own_, &minor,
                                   BPF_ANY));
  EXPECT_EQ(run(0), COLO_HTB_CLASSID(minor));
}

TEST_F(NetClassifyTest, UnlimitedInterfaceOnlyCounts) {
  if (!own_) GTEST_SKIP() << "no cgroup v2 hierarchy";
  set_class(COLO_CLASS_BE);
  EXPECT_EQ(run(0), 0u) << "no entry in colo_net_if";
  shape(kLo, 0);
  EXPECT_EQ(run(4), 4u) << "entry 0 in colo_net_if";
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).packets, 2u);
}

TEST_F(NetClassifyTest, SystemIsNotShaped) {
  if (!own_) GTEST_SKIP() << "no cgroup v2 hierarchy";
  set_class(COLO_CLASS_SYSTEM);
  shape(kLo, 1);
  EXPECT_EQ(run(0), 0u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_SYSTEM).packets, 1u);
}

TEST_F(NetClassifyTest, ManyPacketsCountedExactly) {
  if (!own_) GTEST_SKIP() << "no cgroup v2 hierarchy";
  set_class(COLO_CLASS_BE);
  shape(kLo, 1);
  auto f = frame(1000);
  bpf_test_run_opts o{};
  o.sz = sizeof(o);
  o.data_in = f.data();
  o.data_size_in = static_cast<uint32_t>(f.size());
  o.repeat = 5000;
  ASSERT_EQ(0, bpf_prog_test_run_opts(prog_, &o));
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).packets, 5000u);
  EXPECT_EQ(by_class(kLo, COLO_CLASS_BE).bytes, 5000u * 1000u);
}

}  // namespace
}  // namespace colo::bpftest
