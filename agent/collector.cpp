#include "agent/collector.h"

#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <unordered_set>

#include "userspace/util/fs.h"
#include "userspace/util/log.h"
#include "userspace/util/mono.h"

namespace colo {

const char* class_name(uint32_t cls) {
  switch (cls) {
    case COLO_CLASS_LS: return "ls";
    case COLO_CLASS_BE: return "be";
    case COLO_CLASS_SYSTEM: return "system";
    case COLO_CLASS_IDLE: return "idle";
    default: return "unknown";
  }
}

const char* drop_source_name(int idx) {
  static const char* names[COLO_DROP_MAX] = {"ringbuf_full",  "sched_map_full", "task_storage",
                                             "mem_map_full",  "net_map_full",   "aggr_map_full",
                                             "missed_switch", "no_queued_time"};
  return idx >= 0 && idx < COLO_DROP_MAX ? names[idx] : "unknown";
}

namespace {

// What a kernel-side drop means and what to do about it, for the one log line.
const char* drop_meaning(int idx) {
  switch (idx) {
    case COLO_DROP_RINGBUF_FULL:
      return "urgent events lost: the ring buffer was full (the agent fell behind); the "
             "control loop still sees the waits through the histograms on its next tick";
    case COLO_DROP_SCHED_MAP_FULL:
      return "colo_cg_sched is full: cgroups beyond bpf.max_cgroups get no run-queue, "
             "preemption or SMT signals; raise bpf.max_cgroups";
    case COLO_DROP_TASK_STORAGE:
      return "colo_wake_ts: a thread took the slot of another whose wait was pending "
             "(thread ids equal modulo 65,536, possible where pid_max is larger): that "
             "wait is not measured";
    case COLO_DROP_MEM_MAP_FULL:
      return "colo_cg_mem is full: cgroups beyond bpf.max_cgroups get no reclaim signals; "
             "raise bpf.max_cgroups";
    case COLO_DROP_NET_MAP_FULL:
      return "colo_net is full: egress of some cgroups is not counted; raise bpf.max_cgroups";
    case COLO_DROP_AGGR_MAP_FULL:
      return "colo_aggr update failed: some preemptor pairs are not counted";
    case COLO_DROP_MISSED_SWITCH:
      return "a context switch reached no tracer (its outgoing task was not the one the "
             "last switch seen put on the CPU): the time since is split by the outgoing "
             "task's own run time, so CPU time, SMT overlap and class demand stay close";
  }
  return "unknown drop source";
}

uint32_t class_id(const std::string& name) {
  if (name == "be") return COLO_CLASS_BE;
  if (name == "system") return COLO_CLASS_SYSTEM;
  return COLO_CLASS_LS;
}

std::string ifname_of(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, buf)) return buf;
  return "if" + std::to_string(ifindex);
}

}  // namespace

Collector::Collector(const Config& cfg, CgroupLayout layout, Topology topo,
                     bpf::Programs* programs, CollectorOptions opts)
    : cfg_(cfg),
      layout_(std::move(layout)),
      topo_(std::move(topo)),
      programs_(programs),
      opts_(std::move(opts)) {
  cpu_h_ = layout_.for_controller("cpu");
  mem_h_ = layout_.for_controller("memory");
  v2_h_ = layout_.unified();
  int depth = cfg_.cgroup.max_depth;
  if (cpu_h_) cpu_idx_ = std::make_unique<CgroupIndex>(cpu_h_->mount, depth);
  if (mem_h_) mem_idx_ = std::make_unique<CgroupIndex>(mem_h_->mount, depth);
  if (v2_h_) v2_idx_ = std::make_unique<CgroupIndex>(v2_h_->mount, depth);
}

std::map<std::string, LsReclaimStall> ls_reclaim_stall(const Snapshot& prev, const Snapshot& cur) {
  std::map<std::string, LsReclaimStall> out;
  for (auto& [path, cs] : cur.cgroups) {
    if (cs.cls != "ls" || path == "/") continue;
    auto it = prev.cgroups.find(path);
    const CgroupSignals* p = it != prev.cgroups.end() ? &it->second : nullptr;
    LsReclaimStall st;
    if (cur.bpf_active) {
      if (!cs.has_mem) continue;
      const colo_cg_mem before = p && p->has_mem ? p->mem : colo_cg_mem{};
      st.direct_s = grown_s(cs.mem.direct_reclaim_ns, before.direct_reclaim_ns);
      st.memcg_s = grown_s(cs.mem.memcg_reclaim_ns, before.memcg_reclaim_ns);
    } else {
      // Without an earlier reading the total since boot says nothing.
      if (!p || !cs.psi_memory || !cs.psi_memory->some || !p->psi_memory || !p->psi_memory->some)
        continue;
      st.memcg_s = grown_s(cs.psi_memory->some->total_us * 1000, p->psi_memory->some->total_us * 1000);
    }
    if (st.direct_s > 0 || st.memcg_s > 0) out[path] = st;
  }
  return out;
}

std::string Collector::classify(const std::string& rel) const {
  if (path_is_within(rel, cfg_.cgroup.bigbox)) return "be";
  // The box where a controller has it elsewhere (cgroup.bigbox_paths): paths
  // are not told apart by hierarchy here.
  for (auto& [ctrl, path] : cfg_.cgroup.bigbox_paths)
    if (path_is_within(rel, path)) return "be";
  for (auto& s : cfg_.cgroup.system)
    if (path_is_within(rel, s)) return "system";
  return "ls";
}

// Pushes be/system classes of every known cgroup of the hierarchies the kernel
// reads ids from, and withdraws those that changed or vanished.
void Collector::sync_classes() {
  if (!programs_) return;
  std::map<std::pair<uint64_t, uint32_t>, uint32_t> want;
  auto add = [&](const CgroupIndex* idx, const Hierarchy* h) {
    if (!idx) return;
    for (auto& [id, path] : idx->entries()) {
      uint32_t cls = class_id(classify(path));
      if (cls != COLO_CLASS_LS) want[{id, h->v2 ? 0u : h->id}] = cls;
    }
  };
  add(cpu_idx_.get(), cpu_h_);
  if (mem_idx_.get() != cpu_idx_.get()) add(mem_idx_.get(), mem_h_);
  if (v2_idx_ && v2_h_ != cpu_h_) add(v2_idx_.get(), v2_h_);
  for (auto& [k, cls] : want) {
    auto it = pushed_classes_.find(k);
    if (it != pushed_classes_.end() && it->second == cls) continue;
    int e = programs_->set_class(k.first, k.second, cls);
    if (e) LOG_WARN_ONCE("class_map_full", "cannot update the class map (%d): map full? "
                         "raise bpf.max_cgroups", e);
  }
  for (auto& [k, cls] : pushed_classes_)
    if (!want.count(k)) programs_->clear_class(k.first, k.second);
  pushed_classes_ = std::move(want);
}

void Collector::read_psi(Snapshot* s) {
  if (!v2_idx_) return;
  const auto& entries = v2_idx_->entries();
  auto read_one = [&](const std::string& path) {
    std::string dir = path == "/" ? v2_h_->mount : v2_h_->mount + path;
    auto rd = [&](const char* file) -> std::optional<Psi> {
      auto text = read_file(dir + "/" + file);
      return text ? parse_psi(*text) : std::nullopt;
    };
    auto cpu = rd("cpu.pressure");
    if (!cpu) {  // PSI off, or the cgroup vanished
      psi_.erase(path);
      return;
    }
    psi_[path] = {cpu, rd("memory.pressure"), rd("io.pressure")};
  };
  if (!opts_.psi_per_collect || entries.size() <= opts_.psi_per_collect) {
    psi_.clear();
    for (auto& [id, path] : entries) read_one(path);
  } else {
    // In turn by cgroup id, from where the last turn stopped; the root (the
    // node's PSI on v2) at every collection.
    std::vector<uint64_t> ids;
    ids.reserve(entries.size());
    for (auto& [id, path] : entries) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    auto it = psi_next_ ? std::lower_bound(ids.begin(), ids.end(), *psi_next_) : ids.begin();
    for (size_t n = 0; n < opts_.psi_per_collect; n++, ++it) {
      if (it == ids.end()) it = ids.begin();
      read_one(entries.at(*it));
    }
    psi_next_ = it == ids.end() ? ids.front() : *it;
    if (auto root = v2_idx_->id_of("/"); root) read_one("/");
    // Readings of cgroups that are gone.
    for (auto p = psi_.begin(); p != psi_.end();)
      p = v2_idx_->id_of(p->first) ? std::next(p) : psi_.erase(p);
  }
  for (auto& [path, r] : psi_) {
    CgroupSignals& cs = s->cgroups[path];
    cs.psi_cpu = r.cpu;
    cs.psi_memory = r.memory;
    cs.psi_io = r.io;
  }
  // A root without PSI files (v1 hosts): the node's PSI from /proc/pressure.
  auto root = s->cgroups.find("/");
  if (root == s->cgroups.end() || !root->second.psi_cpu) {
    auto rd = [](const char* file) -> std::optional<Psi> {
      auto text = read_file(std::string("/proc/pressure/") + file);
      return text ? parse_psi(*text) : std::nullopt;
    };
    if (auto cpu = rd("cpu")) {
      CgroupSignals& cs = s->cgroups["/"];
      cs.psi_cpu = cpu;
      cs.psi_memory = rd("memory");
      cs.psi_io = rd("io");
    }
  }
}

Snapshot Collector::collect() {
  Snapshot s;
  bool walk = true;
  if (opts_.tree_gen) {
    const uint32_t gen = opts_.tree_gen();
    walk = !walked_gen_ || *walked_gen_ != gen || ++since_walk_ >= std::max(opts_.walk_every, 1u);
    if (walk) {
      walked_gen_ = gen;
      since_walk_ = 0;
    }
  }
  if (walk) {
    if (cpu_idx_) cpu_idx_->rescan();
    if (mem_idx_) mem_idx_->rescan();
    if (v2_idx_) v2_idx_->rescan();
    sync_classes();  // the classes follow from the paths and the config alone
  }
  read_psi(&s);
  s.tracked_cgroups = cpu_idx_ ? cpu_idx_->size() : 0;

  if (programs_) {
    s.bpf_active = true;
    s.attach_mode = bpf::attach_mode_name(programs_->mode());
    // CPU states around the map read: a CPU whose since_ns is the same in both
    // did not switch in between, so its running slice is in neither the map
    // nor its pending batch.
    const auto cpus_before = programs_->read_cpus();
    std::unordered_map<uint64_t, colo_cg_sched> sched;
    programs_->read_sched(&sched);
    s.mono_ns = mono_ns();
    auto cpus = programs_->read_cpus();

    // Interference not yet settled by a switch (both siblings running on),
    // and CPU time the kernel batches per CPU before adding it to the map.
    std::unordered_map<uint64_t, std::array<uint64_t, COLO_CLASS_MAX>> unsettled;
    std::unordered_map<uint64_t, uint64_t> pending_run;
    // Run-queue samples the kernel stages per CPU before adding them to the
    // map (read after it: a flush in between delays samples to the next
    // collection, it never counts them twice).
    std::unordered_map<uint64_t, colo_cg_sched> staged;
    for (const colo_rq_stage& sg : programs_->read_rq_stages()) bpf::add_staged(sg, &staged);
    // Preemptions each CPU batches for one pair of cgroups.
    bpf::PendingPreemptions pending_pre;
    for (const colo_cpu_state& c : cpus) bpf::add_pending_preemptions(c, &pending_pre);
    for (size_t c = 0; c < cpus.size(); c++) {
      const auto& cs = cpus[c];
      if (cs.run_cgid) pending_run[cs.run_cgid] += cs.pending_run_ns;
      // The task running now has run since since_ns: a CPU-bound task alone
      // on its CPU may not switch for seconds, and its cgroup's CPU time
      // would stand still until it does.
      if (cs.cgid && cs.since_ns && s.mono_ns > cs.since_ns && c < cpus_before.size() &&
          cpus_before[c].since_ns == cs.since_ns && cpus_before[c].cgid == cs.cgid)
        pending_run[cs.cgid] += s.mono_ns - cs.since_ns;
      if (cs.sibling == COLO_NO_SIBLING || cs.sibling >= cpus.size()) continue;
      const auto& ss = cpus[cs.sibling];
      if (cs.cls == COLO_CLASS_LS && cs.cgid && cs.acct_ns && ss.since_ns &&
          (ss.cls == COLO_CLASS_BE || ss.cls == COLO_CLASS_SYSTEM) && s.mono_ns > cs.acct_ns)
        unsettled[cs.cgid][ss.cls] += s.mono_ns - cs.acct_ns;
    }

    for (auto& [id, v] : sched) {
      auto path = cpu_idx_ ? cpu_idx_->path_of(id) : std::nullopt;
      if (!path) continue;  // vanished: gc below
      CgroupSignals& cs = s.cgroups[*path];
      cs.has_sched = true;
      std::copy(std::begin(v.rq_slots), std::end(v.rq_slots), cs.rq_slots.begin());
      cs.rq_sum_ns = v.rq_sum_ns;
      if (auto sg = staged.find(id); sg != staged.end()) {
        for (size_t i = 0; i < cs.rq_slots.size(); i++) cs.rq_slots[i] += sg->second.rq_slots[i];
        cs.rq_sum_ns += sg->second.rq_sum_ns;
      }
      cs.rq_count = 0;
      for (uint64_t n : cs.rq_slots) cs.rq_count += n;
      // As run_ns below: a batch flushed between the reads of the map and of
      // the CPU states is in neither, and a counter must not go back.
      auto& last_pre = last_preempted_[id];
      auto pre = pending_pre.by_victim.find(id);
      for (int k = 0; k < COLO_CLASS_MAX; k++) {
        last_pre[k] = std::max<uint64_t>(
            last_pre[k], v.preempted_by[k] + (pre != pending_pre.by_victim.end() ? pre->second[k] : 0));
        cs.preempted_by[k] = last_pre[k];
      }
      std::copy(std::begin(v.smt_ns), std::end(v.smt_ns), cs.smt_ns.begin());
      auto u = unsettled.find(id);
      if (u != unsettled.end())
        for (int k = 0; k < COLO_CLASS_MAX; k++) cs.smt_ns[k] += u->second[k];
      // Never let the counter go back when a batch is flushed between our
      // reads of the map and of the CPU states.
      uint64_t& last = last_run_ns_[id];
      last = std::max<uint64_t>(last, v.run_ns + pending_run[id]);
      cs.run_ns = last;
      cs.urgent_events = v.urgent_events;
    }
    // Forget removed cgroups (cgroup_rmdir deleted their entries): the map
    // would otherwise grow with every cgroup that ever ran.
    if (!sched.empty()) {
      std::erase_if(last_run_ns_, [&](const auto& kv) { return !sched.count(kv.first); });
      std::erase_if(last_preempted_, [&](const auto& kv) { return !sched.count(kv.first); });
    }

    std::unordered_set<uint64_t> unknown;  // ids of aggressor pairs not in the index
    // Pending pairs are added too (for display: a batch flushed between the
    // two reads counts twice once).
    auto aggressors = programs_->read_aggressors();
    for (auto& [victim, by] : pending_pre.pairs)
      for (auto& [aggr, n] : by) aggressors[victim][aggr] += n;
    for (auto& [victim, by] : aggressors) {
      auto vpath = cpu_idx_ ? cpu_idx_->path_of(victim) : std::nullopt;
      if (!vpath) {
        unknown.insert(victim);
        continue;
      }
      std::vector<AggressorCount> list;
      for (auto& [aggr, n] : by) {
        auto apath = aggr ? cpu_idx_->path_of(aggr) : std::optional<std::string>("(idle)");
        if (!apath) {
          unknown.insert(aggr);
          continue;
        }
        list.push_back({*apath, aggr ? classify(*apath) : "idle", n});
      }
      std::sort(list.begin(), list.end(),
                [](auto& a, auto& b) { return a.count > b.count; });
      if (list.size() > 3) list.resize(3);
      s.cgroups[*vpath].top_aggressors = std::move(list);
    }
    // Pairs of removed cgroups: cgroup_rmdir cannot find them by one id, so
    // they go when an id is missing from two index scans in a row (a cgroup
    // made after this scan is in the next one).
    if (cpu_idx_) {
      programs_->gc_aggr([&](uint64_t id) {
        return !(unknown.count(id) && aggr_unknown_.count(id));
      });
      aggr_unknown_ = std::move(unknown);
    }

    std::unordered_map<uint64_t, colo_cg_mem> mem;
    if (programs_->read_mem(&mem)) {
      for (auto& [id, v] : mem) {
        auto path = mem_idx_ ? mem_idx_->path_of(id) : std::nullopt;
        if (!path) continue;
        CgroupSignals& cs = s.cgroups[*path];
        cs.has_mem = true;
        cs.mem = v;
      }
    }

    bpf::NetCounters net;
    if (programs_->read_net(&net)) {
      for (auto& [k, v] : net) {
        auto path = v2_idx_ ? v2_idx_->path_of(k.cgid) : std::nullopt;
        if (!path) continue;
        auto& tx = s.cgroups[*path].tx[ifname_of(k.ifindex)];
        tx.bytes += v.bytes;
        tx.packets += v.packets;
      }
    }

    // Per-class CPU time, each CPU's in the same reading as the rest.
    for (const colo_cpu_state& c : cpus)
      for (int k = 0; k < COLO_CLASS_MAX; k++) s.class_ns[k] += c.class_ns[k];
    s.drops = programs_->read_drops();
    // Counted on every scrape, logged once per source for the life of the
    // agent; counts adopted from an earlier agent's pinned maps are no news.
    if (!drops_base_) drops_base_ = s.drops;
    for (int i = 0; i < COLO_DROP_MAX; i++) {
      if (drop_logged_[i] || s.drops[i] <= (*drops_base_)[i]) continue;
      drop_logged_[i] = true;
      LOG_WARN("BPF: %s (colo_bpf_events_lost_total{source=\"%s\"}, logged once)", drop_meaning(i),
               drop_source_name(i));
    }
    s.progs = opts_.prog_stats ? opts_.prog_stats() : programs_->prog_stats();

    // Once, at start: entries of cgroups removed while no agent ran (adopted
    // pinned maps). While running, the cgroup_rmdir programs remove them.
    if (!gc_done_) {
      gc_done_ = true;
      if (cpu_idx_) programs_->gc_sched([&](uint64_t id) { return cpu_idx_->path_of(id).has_value(); });
      if (mem_idx_) programs_->gc_mem([&](uint64_t id) { return mem_idx_->path_of(id).has_value(); });
      if (v2_idx_) programs_->gc_net([&](uint64_t id) { return v2_idx_->path_of(id).has_value(); });
    }
  } else {
    s.mono_ns = mono_ns();
  }
  for (auto& [path, cs] : s.cgroups) cs.cls = classify(path);
  return s;
}

}  // namespace colo
