// The TC egress program colo_egress (bpf/net.bpf.c) through
// BPF_PROG_TEST_RUN: it lets every packet pass unchanged and counts exactly
// the packets and bytes it saw in colo_net, under one key per
// (socket cgroup, interface).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
constexpr size_t kHeaders = 14 + 20 + 8;  // Ethernet + IPv4 + UDP

uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An Ethernet + IPv4 + UDP frame of `size` bytes (>= kHeaders), 10.0.0.1:4000
// -> 10.0.0.2:5000, payload a byte pattern that depends on the size.
std::vector<uint8_t> udp_frame(size_t size) {
  std::vector<uint8_t> f(size, 0);
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
  memcpy(&f[0], dst, 6);
  memcpy(&f[6], src, 6);
  f[12] = 0x08, f[13] = 0x00;  // ETH_P_IP
  uint8_t* ip = &f[14];
  size_t ip_len = size - 14;
  ip[0] = 0x45;  // v4, 20-byte header
  ip[2] = ip_len >> 8, ip[3] = ip_len & 0xff;
  ip[8] = 64;    // ttl
  ip[9] = 17;    // UDP
  const uint8_t saddr[4] = {10, 0, 0, 1}, daddr[4] = {10, 0, 0, 2};
  memcpy(ip + 12, saddr, 4);
  memcpy(ip + 16, daddr, 4);
  uint16_t csum = ip_checksum(ip, 20);
  ip[10] = csum >> 8, ip[11] = csum & 0xff;
  uint8_t* udp = ip + 20;
  size_t udp_len = ip_len - 20;
  udp[0] = 4000 >> 8, udp[1] = 4000 & 0xff;
  udp[2] = 5000 >> 8, udp[3] = 5000 & 0xff;
  udp[4] = udp_len >> 8, udp[5] = udp_len & 0xff;  // checksum 0: none (v4)
  for (size_t i = kHeaders; i < size; i++) f[i] = static_cast<uint8_t>(i * 7 + size);
  return f;
}

// Where the cgroup v2 hierarchy is mounted ("" if it is not).
std::string v2_mount() {
  std::string line;
  std::ifstream mi("/proc/self/mountinfo");
  while (std::getline(mi, line)) {
    // "id parent maj:min root mountpoint opts ... - fstype source superopts"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream ss(line);
    std::string f;
    for (int i = 0; i < 5 && ss >> f; i++) {}
    return f;
  }
  return "";
}

// The v2 cgroup id (inode of the directory) of this process, 0 if unknown.
uint64_t own_v2_cgroup_id() {
  std::string mnt = v2_mount(), line;
  if (mnt.empty()) return 0;
  std::ifstream cg("/proc/self/cgroup");
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    struct stat st {};
    if (stat((mnt + line.substr(3)).c_str(), &st) == 0) return st.st_ino;
  }
  return 0;
}

// A v2 cgroup of this test only, removed (once empty) by the destructor.
class TestCgroup {
 public:
  TestCgroup() {
    std::string mnt = v2_mount();
    if (mnt.empty()) return;
    std::string p = mnt + "/colo-bpftest-" + std::to_string(getpid()) + "-" +
                    std::to_string(reinterpret_cast<uintptr_t>(this) & 0xffff);
    if (mkdir(p.c_str(), 0755) != 0) return;
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) {
      rmdir(p.c_str());
      return;
    }
    path_ = p;
    id_ = st.st_ino;
  }
  ~TestCgroup() {
    if (!path_.empty()) rmdir(path_.c_str());
  }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;
  const std::string& path() const { return path_; }
  uint64_t id() const { return id_; }

 private:
  std::string path_;
  uint64_t id_ = 0;
};

// An interface other than loopback, to check that the key carries the
// ifindex of the skb's device; 0 if there is none.
int some_non_loopback_ifindex() {
  int found = 0;
  if (struct if_nameindex* ifs = if_nameindex()) {
    for (auto* i = ifs; i->if_index != 0; i++)
      if (i->if_index > 1 && found == 0) found = static_cast<int>(i->if_index);
    if_freenameindex(ifs);
  }
  return found;
}

class NetEgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_TRUE(pins_.create()) << pins_.error();
    auto oo = pins_.open_opts();
    skel_.reset(colo_net__open_opts(&oo));
    ASSERT_TRUE(skel_) << "open colo_net: " << strerror(errno);
    int err = colo_net__load(skel_.get());
    ASSERT_EQ(0, err) << "load colo_net: " << strerror(-err);
    prog_fd_ = bpf_program__fd(skel_->progs.colo_egress);
    map_fd_ = bpf_map__fd(skel_->maps.colo_net);
    ASSERT_GE(prog_fd_, 0);
    ASSERT_GE(map_fd_, 0);
  }

  // Runs colo_egress on `frame` `repeat` times (0 = once), on the device
  // `ifindex` (0 = the kernel's default, loopback). Returns the frame as the
  // program left it.
  std::vector<uint8_t> run(const std::vector<uint8_t>& frame, int ifindex = 0,
                           uint32_t repeat = 0) {
    std::vector<uint8_t> out(frame.size() + 256, 0xaa);
    __sk_buff ctx{};
    ctx.ifindex = ifindex;
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    if (ifindex) {
      opts.ctx_in = &ctx;
      opts.ctx_size_in = sizeof(ctx);
    }
    opts.repeat = static_cast<int>(repeat);
    int err = bpf_prog_test_run_opts(prog_fd_, &opts);
    EXPECT_EQ(0, err) << "test run, frame of " << frame.size() << " bytes: " << strerror(-err);
    EXPECT_EQ(static_cast<uint32_t>(kTcActOk), opts.retval)
        << "frame of " << frame.size() << " bytes was not passed";
    out.resize(err == 0 ? opts.data_size_out : 0);
    return out;
  }

  struct Entry {
    colo_net_key key;
    colo_net_val sum;  // over all possible CPUs
  };
  std::vector<Entry> entries() {
    std::vector<Entry> out;
    int ncpus = libbpf_num_possible_cpus();
    std::vector<colo_net_val> vals(ncpus);  // 16 bytes: already 8-aligned per CPU
    colo_net_key key{}, next{};
    colo_net_key* prev = nullptr;
    while (bpf_map_get_next_key(map_fd_, prev, &next) == 0) {
      key = next;
      prev = &key;
      if (bpf_map_lookup_elem(map_fd_, &key, vals.data()) != 0) {
        ADD_FAILURE() << "lookup of a listed key failed: " << strerror(errno);
        continue;
      }
      Entry e{key, {}};
      for (auto& v : vals) e.sum.bytes += v.bytes, e.sum.packets += v.packets;
      out.push_back(e);
    }
    return out;
  }

  PinDir pins_;  // declared first: outlives the skeleton
  NetSkel skel_;
  int prog_fd_ = -1, map_fd_ = -1;
};

static_assert(sizeof(colo_net_val) % 8 == 0, "per-CPU values are laid out 8-byte aligned");

const size_t kSizes[] = {kHeaders, kHeaders + 1, 60, 64, 128, 333, 576, 1000, 1500, 1514};

TEST_F(NetEgressTest, PassesAndCountsEveryPacketAndByte) {
  uint64_t packets = 0, bytes = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t size : kSizes) {
      run(udp_frame(size));
      packets++, bytes += size;
    }
  }
  auto es = entries();
  ASSERT_EQ(1u, es.size()) << "one sender, one interface: one key";
  const Entry& e = es[0];
  EXPECT_EQ(packets, e.sum.packets);
  EXPECT_EQ(bytes, e.sum.bytes) << "skb->len at TC egress includes the Ethernet header";
  EXPECT_EQ(1u, e.key.ifindex) << "test runs without a device use loopback";
  EXPECT_EQ(0u, e.key.__pad);
  // Test-run skbs carry a dummy socket charged to the caller's v2 cgroup, so
  // the key is this process's cgroup.
  uint64_t own = own_v2_cgroup_id();
  if (own != 0) {
    EXPECT_EQ(own, e.key.cgid) << "key is not the sending socket's v2 cgroup";
  }
}

// Packets of a socket made in another cgroup are counted under that cgroup:
// the key follows the socket, as bpf_skb_cgroup_id promises.
TEST_F(NetEgressTest, KeyIsTheSendingSocketsCgroup) {
  TestCgroup cg;
  if (cg.path().empty()) GTEST_SKIP() << "no writable cgroup v2 hierarchy";
  auto frame = udp_frame(300);
  pid_t child = fork();
  ASSERT_GE(child, 0) << strerror(errno);
  if (child == 0) {
    // In the child: join the test cgroup, then send (the test run's socket
    // is made now, in this cgroup). No gtest assertions here.
    std::ofstream procs(cg.path() + "/cgroup.procs");
    procs << getpid() << std::flush;
    if (!procs) _exit(2);
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.repeat = 7;
    _exit(bpf_prog_test_run_opts(prog_fd_, &opts) == 0 && opts.retval == kTcActOk ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status)) << "2: cannot join the cgroup, 3: test run failed";
  auto es = entries();
  ASSERT_EQ(1u, es.size());
  EXPECT_EQ(cg.id(), es[0].key.cgid);
  EXPECT_EQ(7u, es[0].sum.packets);
  EXPECT_EQ(7u * 300u, es[0].sum.bytes);
}

TEST_F(NetEgressTest, RepeatedRunsCountEachRun) {
  auto f = udp_frame(200);
  run(f, 0, 1000);
  auto es = entries();
  ASSERT_EQ(1u, es.size());
  EXPECT_EQ(1000u, es[0].sum.packets);
  EXPECT_EQ(200u * 1000u, es[0].sum.bytes);
}

TEST_F(NetEgressTest, PacketsAreNotModified) {
  for (size_t size : kSizes) {
    auto in = udp_frame(size);
    auto out = run(in);
    ASSERT_EQ(in.size(), out.size()) << "frame of " << size << " bytes";
    EXPECT_EQ(0, memcmp(in.data(), out.data(), in.size())) << "frame of " << size << " bytes";
  }
}

TEST_F(NetEgressTest, KeyCarriesTheDevice) {
  int other = some_non_loopback_ifindex();
  if (other == 0) GTEST_SKIP() << "no interface but loopback";
  const size_t small = 100, big = 900;
  run(udp_frame(small), 1);
  run(udp_frame(big), other);
  run(udp_frame(big), other);
  auto es = entries();
  ASSERT_EQ(2u, es.size()) << "one key per interface";
  for (const auto& e : es) {
    if (e.key.ifindex == 1) {
      EXPECT_EQ(1u, e.sum.packets);
      EXPECT_EQ(small, e.sum.bytes);
    } else {
      EXPECT_EQ(static_cast<uint32_t>(other), e.key.ifindex);
      EXPECT_EQ(2u, e.sum.packets);
      EXPECT_EQ(2 * big, e.sum.bytes);
    }
  }
  EXPECT_EQ(es[0].key.cgid, es[1].key.cgid) << "same sender, same cgroup";
}

TEST_F(NetEgressTest, NoDropsCounted) {
  for (size_t size : kSizes) run(udp_frame(size));
  int fd = bpf_map__fd(skel_->maps.colo_drops);
  std::vector<uint64_t> vals(libbpf_num_possible_cpus());
  for (uint32_t i = 0; i < COLO_DROP_MAX; i++) {
    ASSERT_EQ(0, bpf_map_lookup_elem(fd, &i, vals.data()));
    for (auto v : vals) EXPECT_EQ(0u, v) << "drop counter " << i;
  }
}

}  // namespace
}  // namespace colo::bpftest
