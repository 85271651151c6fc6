// Every BPF object passes the verifier on this kernel in each mode the
// loader (userspace/bpf/programs.cpp) can pick: sched and mem as tp_btf and
// as raw_tp, with the v2 and the v1-hybrid cgroup knobs, and net. Nothing is
// attached. Also checks what the contract promises about the maps: names
// that start with colo_ and fit 15 characters, BTF for bpftool, and maps
// shared between objects through their pins.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <sys/utsname.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "userspace/bpf/programs.h"
#include "bpf_fixture.h"
#include "colo_abi.h"
#include "colo_mem.skel.h"
#include "colo_net.skel.h"
#include "colo_sched.skel.h"

namespace colo::bpftest {
namespace {

using SchedSkel = SkelPtr<colo_sched, colo_sched__destroy>;
using MemSkel = SkelPtr<colo_mem, colo_mem__destroy>;
using NetSkel = SkelPtr<colo_net, colo_net__destroy>;

enum class Mode { TpBtf, RawTp };
struct Variant {
  Mode mode;
  bool v1;  // cgroup knobs of a v1/hybrid host (cpu and memory on v1), SMT on
  bool schedinfo = false;  // run-queue waits from sched_info (no wakeup program)
};
std::string variant_name(const ::testing::TestParamInfo<Variant>& i) {
  return std::string(i.param.mode == Mode::TpBtf ? "TpBtf" : "RawTp") +
         (i.param.v1 ? "_V1Hybrid" : "_V2") + (i.param.schedinfo ? "_SchedInfo" : "_Wakeup");
}

// The verifier's limit on instructions processed per program: a program
// that comes within half of it fails to load after the next small change
// (the switch program with SMT on was at 735k once).
constexpr long kVerifierLimit = 1'000'000;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Test entry points (BPF_PROG_TEST_RUN only) are never loaded by the agent.
// Entry points run through BPF_PROG_TEST_RUN, never attached: tests' own
// (colo_test_*) and the agent's (a raw_tp section named after no kernel
// tracepoint but colo_*, e.g. colo_learn_self).
bool is_test_entry(bpf_program* p) {
  return starts_with(bpf_program__name(p), "colo_test_") ||
         starts_with(bpf_program__section_name(p), "raw_tp/colo_");
}

// Sets autoload as the loader does: tp_btf/ sections in tp_btf mode, their
// raw_tp/ twins in raw_tp mode, test entry points never.
void autoload_mode(bpf_object* obj, Mode mode) {
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    std::string sec = bpf_program__section_name(p);
    bool want = mode == Mode::TpBtf ? starts_with(sec, "tp_btf/") : starts_with(sec, "raw_tp/");
    bpf_program__set_autoload(p, want && !is_test_entry(p));
  }
}

// Every program of `obj` is loaded exactly when autoload says so; returns how
// many were loaded.
int check_loaded(bpf_object* obj) {
  int loaded = 0;
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    int fd = bpf_program__fd(p);
    if (bpf_program__autoload(p)) {
      EXPECT_GE(fd, 0) << bpf_program__name(p) << " not loaded";
      loaded += fd >= 0;
    } else {
      EXPECT_LT(fd, 0) << bpf_program__name(p) << " loaded although autoload is off";
    }
  }
  return loaded;
}

// The programs named `bases` exist in `obj` and are loaded in their `mode`
// variant (base + "_btf" or "_raw").
void expect_loaded(bpf_object* obj, Mode mode, const std::vector<std::string>& bases) {
  for (const auto& b : bases) {
    std::string n = b + (mode == Mode::TpBtf ? "_btf" : "_raw");
    bpf_program* p = bpf_object__find_program_by_name(obj, n.c_str());
    ASSERT_NE(nullptr, p) << "no program " << n;
    EXPECT_GE(bpf_program__fd(p), 0) << n << " not loaded";
  }
}

// Contract: user-visible (non-internal) maps are named colo_*, fit 15
// characters, and carry BTF for their values so bpftool prints field names.
void check_maps(bpf_object* obj) {
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    if (bpf_map__is_internal(m)) continue;
    std::string n = bpf_map__name(m);
    EXPECT_EQ(0u, n.rfind("colo_", 0)) << n;
    EXPECT_LE(n.size(), 15u) << n;
    if (!bpf_map__autocreate(m)) continue;
    int fd = bpf_map__fd(m);
    ASSERT_GE(fd, 0) << n << " not created";
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(0, bpf_obj_get_info_by_fd(fd, &info, &len)) << n;
    EXPECT_STREQ(n.c_str(), info.name);
    if (info.type == BPF_MAP_TYPE_RINGBUF) continue;  // no key or value to describe
    EXPECT_NE(0u, info.btf_id) << n << " has no BTF";
    EXPECT_NE(0u, info.btf_value_type_id) << n << ": value without BTF type";
  }
}

std::set<std::string> pinned_maps(bpf_object* obj) {
  std::set<std::string> out;
  bpf_map* m;
  bpf_object__for_each_map(m, obj)
    if (bpf_map__is_pinned(m)) out.insert(bpf_map__name(m));
  return out;
}

uint32_t map_id(bpf_map* m) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len) != 0) return 0;
  return info.id;
}

class LoadTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_TRUE(pins_.create()) << pins_.error();
  }

  // Opens colo_sched configured as the loader would for this variant.
  SchedSkel open_sched(Mode mode, bool v1, bool schedinfo = false) {
    auto oo = pins_.open_opts();
    SchedSkel s(colo_sched__open_opts(&oo));
    EXPECT_TRUE(s) << "open colo_sched: " << strerror(errno);
    if (!s) return s;
    s->rodata->cpu_on_v1 = v1;
    s->rodata->mem_on_v1 = v1;
    s->rodata->cpu_hierarchy = v1 ? 1 : 0;
    s->rodata->mem_hierarchy = v1 ? 4 : 0;
    s->rodata->smt_enabled = v1;
    s->rodata->wait_from_sched_info = schedinfo;
    // prev's state from the tracepoint where this kernel passes it, as the
    // loader does, in the sched_info variants; the wakeup ones keep reading
    // the task, so that the verifier checks both ways here.
    s->rodata->switch_prev_state =
        schedinfo && colo::bpf::switch_passes_prev_state("/sys/kernel/btf/vmlinux");
    EXPECT_EQ(0, bpf_map__set_max_entries(s->maps.colo_cpu, libbpf_num_possible_cpus()));
    EXPECT_EQ(0, bpf_map__set_max_entries(s->maps.colo_stage, libbpf_num_possible_cpus()));
    autoload_mode(s->obj, mode);
    if (schedinfo)  // as the loader
      for (bpf_program* p : {s->progs.colo_wakeup_btf, s->progs.colo_wakenew_btf,
                             s->progs.colo_wakeup_raw, s->progs.colo_wakenew_raw})
        bpf_program__set_autoload(p, false);
    return s;
  }

  MemSkel open_mem(Mode mode, bool v1) {
    auto oo = pins_.open_opts();
    MemSkel s(colo_mem__open_opts(&oo));
    EXPECT_TRUE(s) << "open colo_mem: " << strerror(errno);
    if (!s) return s;
    s->rodata->cpu_on_v1 = v1;
    s->rodata->mem_on_v1 = v1;
    s->rodata->cpu_hierarchy = v1 ? 1 : 0;
    s->rodata->mem_hierarchy = v1 ? 4 : 0;
    autoload_mode(s->obj, mode);
    // As the loader: the OOM programs read mark_victim's task, which kernels
    // before 6.6 do not pass.
    if (!colo::bpf::mark_victim_passes_task()) {
      bpf_program__set_autoload(s->progs.colo_oom_btf, false);
      bpf_program__set_autoload(s->progs.colo_oom_raw, false);
    }
    return s;
  }

  PinDir pins_;  // declared first: outlives the skeletons
};

TEST_P(LoadTest, SchedLoads) {
  auto [mode, v1, schedinfo] = GetParam();
  if (schedinfo) {
    const char* btf = "/sys/kernel/btf/vmlinux";
    utsname u{};
    ASSERT_EQ(0, uname(&u));
    const std::string why = colo::bpf::schedinfo_unsupported(btf, u.release);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  SchedSkel s = open_sched(mode, v1, schedinfo);
  ASSERT_TRUE(s);
  // The verifier's statistics of the switch program, its costliest.
  bpf_program* sw = mode == Mode::TpBtf ? s->progs.colo_switch_btf : s->progs.colo_switch_raw;
  static char log[64 * 1024];
  log[0] = 0;
  bpf_program__set_log_buf(sw, log, sizeof(log));
  bpf_program__set_log_level(sw, 4);  // statistics only
  int err = colo_sched__load(s.get());
  ASSERT_EQ(0, err) << "verifier rejected colo_sched: " << strerror(-err)
                    << " (libbpf printed the log above)";
  const char* at = strstr(log, "processed ");
  ASSERT_NE(nullptr, at) << "no verifier statistics: " << log;
  const long insns = strtol(at + strlen("processed "), nullptr, 10);
  std::cout << bpf_program__name(sw) << ": the verifier processed " << insns << " instructions\n";
  EXPECT_LT(insns, kVerifierLimit / 2) << "too close to the verifier's limit: " << at;
  check_loaded(s->obj);
  if (schedinfo)
    expect_loaded(s->obj, mode, {"colo_switch", "colo_rmdir", "colo_exit"});
  else
    expect_loaded(s->obj, mode, {"colo_wakeup", "colo_wakenew", "colo_switch", "colo_rmdir"});
  check_maps(s->obj);
  // What gets pinned is what `colo bpf cleanup` must remove: colo_* only.
  auto pinned = pinned_maps(s->obj);
  EXPECT_FALSE(pinned.empty());
  for (const auto& e : pins_.entries()) {
    EXPECT_EQ(0u, e.rfind("colo_", 0)) << e;
    EXPECT_EQ(1u, pinned.count(e)) << e << " pinned but not by this object";
  }
}

TEST_P(LoadTest, MemLoads) {
  auto [mode, v1, schedinfo] = GetParam();
  if (schedinfo) GTEST_SKIP() << "the memory programs do not depend on the wait source";
  MemSkel s = open_mem(mode, v1);
  ASSERT_TRUE(s);
  int err = colo_mem__load(s.get());
  ASSERT_EQ(0, err) << "verifier rejected colo_mem: " << strerror(-err)
                    << " (libbpf printed the log above)";
  check_loaded(s->obj);
  expect_loaded(s->obj, mode,
                {"colo_dr_begin", "colo_dr_end", "colo_mr_begin", "colo_mr_end", "colo_mrmdir"});
  if (colo::bpf::mark_victim_passes_task()) expect_loaded(s->obj, mode, {"colo_oom"});
  check_maps(s->obj);
}

// The three objects, loaded one after the other as the agent does, share the
// maps they have in common (colo_drops, colo_class) through the pins instead
// of each creating its own.
TEST_P(LoadTest, ObjectsShareCommonMapsThroughPins) {
  auto [mode, v1, schedinfo] = GetParam();
  SchedSkel s = open_sched(mode, v1, schedinfo);
  MemSkel m = open_mem(mode, v1);
  auto oo = pins_.open_opts();
  NetSkel n(colo_net__open_opts(&oo));
  ASSERT_TRUE(s && m && n);
  ASSERT_EQ(0, colo_sched__load(s.get()));
  ASSERT_EQ(0, colo_mem__load(m.get()));
  ASSERT_EQ(0, colo_net__load(n.get()));
  uint32_t drops = map_id(s->maps.colo_drops), cls = map_id(s->maps.colo_class);
  ASSERT_NE(0u, drops);
  ASSERT_NE(0u, cls);
  EXPECT_EQ(drops, map_id(m->maps.colo_drops));
  EXPECT_EQ(drops, map_id(n->maps.colo_drops));
  EXPECT_EQ(cls, map_id(m->maps.colo_class));
  EXPECT_EQ(cls, map_id(n->maps.colo_class));
}

// Every tracing program has a twin for the other mode, and its name says
// which one it is (bpftool shows names, not sections).
TEST(ProgramNames, EveryTracepointProgramHasItsTwin) {
  auto check = [](bpf_object* obj) {
    std::set<std::string> btf, raw;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      std::string n = bpf_program__name(p), sec = bpf_program__section_name(p);
      EXPECT_EQ(0u, n.rfind("colo_", 0)) << n;
      if (is_test_entry(p)) continue;
      if (starts_with(sec, "tp_btf/")) {
        EXPECT_TRUE(ends_with(n, "_btf")) << n << " in " << sec;
        btf.insert(n.substr(0, n.size() - 4) + sec.substr(strlen("tp_btf/")));
      } else if (starts_with(sec, "raw_tp/")) {
        EXPECT_TRUE(ends_with(n, "_raw")) << n << " in " << sec;
        raw.insert(n.substr(0, n.size() - 4) + sec.substr(strlen("raw_tp/")));
      }
    }
    EXPECT_EQ(btf, raw) << "a program without its twin in the other mode";
  };
  SchedSkel s(colo_sched__open());
  MemSkel m(colo_mem__open());
  ASSERT_TRUE(s && m);
  check(s->obj);
  check(m->obj);
}

INSTANTIATE_TEST_SUITE_P(Modes, LoadTest,
                         ::testing::Values(Variant{Mode::TpBtf, false}, Variant{Mode::TpBtf, true},
                                           Variant{Mode::RawTp, false}, Variant{Mode::RawTp, true},
                                           Variant{Mode::TpBtf, false, true},
                                           Variant{Mode::TpBtf, true, true},
                                           Variant{Mode::RawTp, false, true},
                                           Variant{Mode::RawTp, true, true}),
                         variant_name);

class ObjectLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_TRUE(pins_.create()) << pins_.error();
  }
  PinDir pins_;
};

TEST_F(ObjectLoadTest, NetLoads) {
  auto oo = pins_.open_opts();
  NetSkel n(colo_net__open_opts(&oo));
  ASSERT_TRUE(n) << "open colo_net: " << strerror(errno);
  int err = colo_net__load(n.get());
  ASSERT_EQ(0, err) << "verifier rejected colo_net: " << strerror(-err);
  EXPECT_EQ(1, check_loaded(n->obj));
  EXPECT_EQ(BPF_PROG_TYPE_SCHED_CLS, bpf_program__type(n->progs.colo_egress));
  check_maps(n->obj);
}

// The sched object, loaded twice into the same pin directory (an agent
// restart), adopts its pinned maps instead of failing on them.
TEST_F(ObjectLoadTest, SchedReloadAdoptsPinnedMaps) {
  uint32_t first_id = 0;
  for (int i = 0; i < 2; i++) {
    auto oo = pins_.open_opts();
    SchedSkel s(colo_sched__open_opts(&oo));
    ASSERT_TRUE(s);
    ASSERT_EQ(0, bpf_map__set_max_entries(s->maps.colo_cpu, libbpf_num_possible_cpus()));
    ASSERT_EQ(0, bpf_map__set_max_entries(s->maps.colo_stage, libbpf_num_possible_cpus()));
    autoload_mode(s->obj, Mode::TpBtf);
    ASSERT_EQ(0, colo_sched__load(s.get())) << "load #" << i + 1;
    uint32_t id = map_id(s->maps.colo_cg_sched);
    if (i == 0) first_id = id;
    else EXPECT_EQ(first_id, id) << "the second load made a new colo_cg_sched";
  }
}

}  // namespace
}  // namespace colo::bpftest
