// colo's HTB at the root of an interface (rtnetlink through libnl-route):
// the qdisc c01: that shapes BE egress while every other packet passes
// through its direct queue (see COLO_HTB_* in colo_abi.h). colo installs it
// only over the kernel's default root qdisc (handle 0:, e.g. noqueue on lo,
// mq or pfifo_fast on a NIC) or over an HTB c01: a previous colo left behind;
// any other root qdisc is someone else's and is left alone.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_sock;

namespace colo::net {

// The root qdisc of an interface as the kernel reports it.
struct RootQdisc {
  std::string kind;     // "noqueue", "mq", "htb", ...
  uint32_t handle = 0;  // 0 for the kernel's default qdiscs
};

enum class RootVerdict {
  Install,  // the kernel's default (or nothing): colo may put its HTB there
  Ours,     // colo's HTB, left by an earlier colo: reuse it
  Foreign,  // configured by someone else: refuse
};
RootVerdict judge_root(const std::optional<RootQdisc>& root);
// "netem 8001:" as tc prints it.
std::string describe(const RootQdisc& q);

// A BE cgroup with a limit of its own: its HTB leaf.
struct CgroupLeaf {
  uint32_t minor = 0;             // COLO_HTB_CG_MINOR_BASE + i
  uint64_t bytes_per_second = 0;  // its ceiling (the box's limit caps it too)
};

// The HTB parameters colo asks for, as plain numbers (unit-tested).
struct HtbClassParams {
  uint32_t parent_minor = 0;  // 0: the qdisc itself
  uint32_t minor = 0;
  uint64_t rate = 0, ceil = 0;  // bytes/s
  uint32_t burst = 0, cburst = 0;  // bytes
};
// c01:1 (the box), c01:2 (BE without own limit), then one leaf per cgroup.
// Leaves share the box's rate evenly as their guarantee, so that their sum
// never exceeds the box (HTB lets a leaf under its rate send whatever its
// parent says); each may borrow up to its ceiling.
std::vector<HtbClassParams> htb_classes(uint64_t box_bytes_per_second,
                                        const std::vector<CgroupLeaf>& leaves);

class Htb {
 public:
  // Installs (or adopts) colo's HTB at the root of `ifname` in this network
  // namespace. nullptr + *err when netlink fails or the root qdisc is foreign.
  static std::unique_ptr<Htb> install(const std::string& ifname, std::string* err);
  ~Htb();
  Htb(const Htb&) = delete;
  Htb& operator=(const Htb&) = delete;

  // Creates or changes the classes; removes leaves no longer listed.
  bool set_limit(uint64_t box_bytes_per_second, const std::vector<CgroupLeaf>& leaves,
                 std::string* err);
  // Packets dropped by each leaf (its queue was full), by minor.
  std::map<uint32_t, uint64_t> drops() const;
  // Deletes the qdisc if it is still colo's; the kernel puts its default back.
  void remove();
  const std::string& ifname() const { return ifname_; }
  int ifindex() const { return ifindex_; }

 private:
  Htb() = default;
  nl_sock* sk_ = nullptr;
  std::string ifname_;
  int ifindex_ = 0;
  bool installed_ = false;
  std::vector<uint32_t> leaf_minors_;  // per-cgroup leaves present now
};

// The root qdisc of `ifindex` (nullopt: none reported, or netlink failed).
std::optional<RootQdisc> root_qdisc(int ifindex, std::string* err = nullptr);

}  // namespace colo::net
