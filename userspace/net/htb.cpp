#include "userspace/net/htb.h"

#include <linux/pkt_sched.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>

#include <algorithm>
#include <cstdio>

#include "colo_abi.h"
#include "userspace/util/log.h"

namespace colo::net {
namespace {

constexpr uint32_t kQdiscHandle = COLO_HTB_MAJOR << 16;
// Loopback and TSO/GSO NICs hand the qdisc packets of up to 64 KiB.
constexpr uint32_t kMaxPacket = 65536;
constexpr uint32_t kQuantum = 2 * kMaxPacket;

std::string nlerr(int e) { return nl_geterror(e < 0 ? -e : e); }

uint32_t handle_of(uint32_t minor) { return kQdiscHandle | minor; }

// Burst: 2 ms at the rate, but at least two of the largest packets, so that
// one GSO packet never waits for tokens it can never have.
uint32_t burst_for(uint64_t rate) {
  return static_cast<uint32_t>(std::clamp<uint64_t>(rate / 500, 2 * kMaxPacket, 64u << 20));
}

struct SockCloser {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};

nl_sock* connect_route(std::string* err) {
  nl_sock* sk = nl_socket_alloc();
  if (!sk) {
    *err = "netlink: cannot allocate a socket";
    return nullptr;
  }
  int e = nl_connect(sk, NETLINK_ROUTE);
  if (e < 0) {
    *err = "netlink: " + nlerr(e);
    nl_socket_free(sk);
    return nullptr;
  }
  return sk;
}

std::optional<RootQdisc> root_of(nl_sock* sk, int ifindex, std::string* err) {
  nl_cache* cache = nullptr;
  int e = rtnl_qdisc_alloc_cache(sk, &cache);
  if (e < 0) {
    if (err) *err = "list qdiscs: " + nlerr(e);
    return std::nullopt;
  }
  std::optional<RootQdisc> out;
  if (rtnl_qdisc* q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_ROOT)) {
    const char* kind = rtnl_tc_get_kind(TC_CAST(q));
    out = RootQdisc{kind ? kind : "", rtnl_tc_get_handle(TC_CAST(q))};
    rtnl_qdisc_put(q);
  }
  nl_cache_free(cache);
  return out;
}

}  // namespace

RootVerdict judge_root(const std::optional<RootQdisc>& root) {
  if (!root || root->handle == 0) return RootVerdict::Install;
  if (root->kind == "htb" && root->handle == kQdiscHandle) return RootVerdict::Ours;
  return RootVerdict::Foreign;
}

std::string describe(const RootQdisc& q) {
  char h[16];
  snprintf(h, sizeof(h), "%x:", q.handle >> 16);
  return q.kind + " " + h;
}

std::vector<HtbClassParams> htb_classes(uint64_t box, const std::vector<CgroupLeaf>& leaves) {
  box = std::max<uint64_t>(box, 1);
  std::vector<HtbClassParams> out;
  out.push_back({0, COLO_HTB_BOX_MINOR, box, box, burst_for(box), burst_for(box)});
  uint64_t share = std::max<uint64_t>(box / (1 + leaves.size()), 1);
  out.push_back({COLO_HTB_BOX_MINOR, COLO_HTB_BE_MINOR, share, box, burst_for(share),
                 burst_for(box)});
  for (auto& l : leaves) {
    uint64_t ceil = std::clamp<uint64_t>(l.bytes_per_second, 1, box);
    uint64_t rate = std::min(share, ceil);
    out.push_back({COLO_HTB_BOX_MINOR, l.minor, rate, ceil, burst_for(rate), burst_for(ceil)});
  }
  return out;
}

std::optional<RootQdisc> root_qdisc(int ifindex, std::string* err) {
  std::string e;
  std::unique_ptr<nl_sock, SockCloser> sk(connect_route(&e));
  if (!sk) {
    if (err) *err = e;
    return std::nullopt;
  }
  return root_of(sk.get(), ifindex, err);
}

std::unique_ptr<Htb> Htb::install(const std::string& ifname, std::string* err) {
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!ifindex) {
    *err = "no interface " + ifname + " in this network namespace";
    return nullptr;
  }
  std::unique_ptr<Htb> h(new Htb());
  h->ifname_ = ifname;
  h->ifindex_ = ifindex;
  h->sk_ = connect_route(err);
  if (!h->sk_) return nullptr;
  std::string e;
  auto root = root_of(h->sk_, ifindex, &e);
  if (!root && !e.empty()) {
    *err = ifname + ": " + e;
    return nullptr;
  }
  switch (judge_root(root)) {
    case RootVerdict::Foreign:
      *err = ifname + ": the root qdisc (" + describe(*root) +
             ") was not created by colo; leaving it alone, BE egress is not limited there "
             "(remove it or take the interface out of network.interfaces)";
      return nullptr;
    case RootVerdict::Ours:
      // Left by a colo that did not exit cleanly: its classes are rewritten below.
      LOG_INFO("%s: adopting colo's HTB left by an earlier agent", ifname.c_str());
      h->installed_ = true;
      return h;
    case RootVerdict::Install:
      break;
  }
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
  rtnl_tc_set_handle(TC_CAST(q), kQdiscHandle);
  int rc = rtnl_tc_set_kind(TC_CAST(q), "htb");
  if (rc == 0) rc = rtnl_htb_set_defcls(q, 0);  // unclassified: direct queue, unshaped
  if (rc == 0) rc = rtnl_qdisc_add(h->sk_, q, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_qdisc_put(q);
  if (rc < 0) {
    *err = ifname + ": cannot add colo's HTB root qdisc: " + nlerr(rc);
    return nullptr;
  }
  h->installed_ = true;
  return h;
}

Htb::~Htb() {
  remove();
  if (sk_) nl_socket_free(sk_);
}

bool Htb::set_limit(uint64_t box, const std::vector<CgroupLeaf>& leaves, std::string* err) {
  if (!installed_) {
    *err = ifname_ + ": colo's HTB is not installed";
    return false;
  }
  for (auto& p : htb_classes(box, leaves)) {
    rtnl_class* c = rtnl_class_alloc();
    rtnl_tc_set_ifindex(TC_CAST(c), ifindex_);
    rtnl_tc_set_parent(TC_CAST(c), handle_of(p.parent_minor));
    rtnl_tc_set_handle(TC_CAST(c), handle_of(p.minor));
    rtnl_tc_set_mtu(TC_CAST(c), kMaxPacket);
    int rc = rtnl_tc_set_kind(TC_CAST(c), "htb");
    if (rc == 0) rc = rtnl_htb_set_rate64(c, p.rate);
    if (rc == 0) rc = rtnl_htb_set_ceil64(c, p.ceil);
    if (rc == 0) rc = rtnl_htb_set_rbuffer(c, p.burst);
    if (rc == 0) rc = rtnl_htb_set_cbuffer(c, p.cburst);
    if (rc == 0) rc = rtnl_htb_set_quantum(c, kQuantum);
    if (rc == 0) rc = rtnl_class_add(sk_, c, NLM_F_CREATE);  // creates, or changes in place
    rtnl_class_put(c);
    if (rc < 0) {
      char h[16];
      snprintf(h, sizeof(h), "%x:%x", COLO_HTB_MAJOR, p.minor);
      *err = ifname_ + ": HTB class " + h + ": " + nlerr(rc);
      return false;
    }
  }
  // Leaves of cgroups no longer limited: their packets go to c01:2 from now on.
  for (uint32_t m : leaf_minors_) {
    if (std::any_of(leaves.begin(), leaves.end(), [&](auto& l) { return l.minor == m; }))
      continue;
    rtnl_class* c = rtnl_class_alloc();
    rtnl_tc_set_ifindex(TC_CAST(c), ifindex_);
    rtnl_tc_set_handle(TC_CAST(c), handle_of(m));
    rtnl_class_delete(sk_, c);
    rtnl_class_put(c);
  }
  leaf_minors_.clear();
  for (auto& l : leaves) leaf_minors_.push_back(l.minor);
  return true;
}

std::map<uint32_t, uint64_t> Htb::drops() const {
  std::map<uint32_t, uint64_t> out;
  if (!installed_) return out;
  nl_cache* cache = nullptr;
  if (rtnl_class_alloc_cache(sk_, ifindex_, &cache) < 0) return out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* c = reinterpret_cast<rtnl_class*>(o);
    uint32_t h = rtnl_tc_get_handle(TC_CAST(c));
    if ((h >> 16) != COLO_HTB_MAJOR || (h & 0xffff) == COLO_HTB_BOX_MINOR) continue;
    out[h & 0xffff] = rtnl_tc_get_stat(TC_CAST(c), RTNL_TC_DROPS);
  }
  nl_cache_free(cache);
  return out;
}

void Htb::remove() {
  if (!installed_ || !sk_) return;
  installed_ = false;
  leaf_minors_.clear();
  // Only if it is still ours: someone may have replaced it meanwhile.
  auto root = root_of(sk_, ifindex_, nullptr);
  if (judge_root(root) != RootVerdict::Ours) {
    LOG_WARN("%s: the root qdisc is no longer colo's HTB; leaving it", ifname_.c_str());
    return;
  }
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex_);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
  rtnl_tc_set_handle(TC_CAST(q), kQdiscHandle);
  int rc = rtnl_qdisc_delete(sk_, q);
  rtnl_qdisc_put(q);
  if (rc < 0) LOG_WARN("%s: cannot remove colo's HTB: %s", ifname_.c_str(), nlerr(rc).c_str());
  else LOG_INFO("%s: colo's HTB removed", ifname_.c_str());
}

}  // namespace colo::net
