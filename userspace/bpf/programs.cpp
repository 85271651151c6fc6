#include "userspace/bpf/programs.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <net/if.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>

#include "colo_mem.skel.h"
#include "colo_net.skel.h"
#include "colo_sched.skel.h"
#include "userspace/util/log.h"

namespace colo::bpf {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  LogLevel l = level == LIBBPF_WARN ? LogLevel::Warn
               : level == LIBBPF_INFO ? LogLevel::Debug
                                      : LogLevel::Debug;
  if (l < log_level()) return 0;
  // libbpf lines end in '\n'; ours add one.
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  size_t n = strlen(buf);
  while (n && buf[n - 1] == '\n') buf[--n] = '\0';
  log_printf(l, "libbpf: %s", buf);
  return 0;
}

void route_libbpf_logs() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

std::string errstr(int err) { return strerror(err < 0 ? -err : err); }

bool fs_is(const char* path, long magic) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

// Iterates all keys of a map fd.
template <typename K, typename F>
void for_each_key(int fd, F&& f) {
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    f(key);
  }
}

}  // namespace

const char* attach_mode_name(AttachMode m) {
  switch (m) {
    case AttachMode::TpBtf: return "tp_btf";
    case AttachMode::RawTp: return "raw_tp";
    default: return "auto";
  }
}

std::optional<AttachMode> parse_attach_mode(const std::string& s) {
  if (s == "auto") return AttachMode::Auto;
  if (s == "tp_btf") return AttachMode::TpBtf;
  if (s == "raw_tp") return AttachMode::RawTp;
  return std::nullopt;
}

const char* wait_source_name(WaitSource w) {
  switch (w) {
    case WaitSource::SchedInfo: return "sched_info";
    case WaitSource::Wakeup: return "wakeup";
    default: return "auto";
  }
}

std::optional<WaitSource> parse_wait_source(const std::string& s) {
  if (s == "auto") return WaitSource::Auto;
  if (s == "sched_info") return WaitSource::SchedInfo;
  if (s == "wakeup") return WaitSource::Wakeup;
  return std::nullopt;
}

namespace {

// Whether struct `type` of `b` has a member `member`.
bool has_member(const btf* b, const char* type, const char* member) {
  int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
  const btf_type* t = id > 0 ? btf__type_by_id(b, id) : nullptr;
  if (!t) return false;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++)
    if (strcmp(btf__name_by_offset(b, m[i].name_off), member) == 0) return true;
  return false;
}

}  // namespace

std::string schedinfo_unsupported(const std::string& btf_path, const std::string& release) {
  int major = 0, minor = 0;
  if (sscanf(release.c_str(), "%d.%d", &major, &minor) != 2)
    return "kernel release '" + release + "' not understood";
  if (major < 5 || (major == 5 && minor < 14))
    return "kernel " + release + " keeps sched_info only with schedstats or delay accounting on "
           "(before 5.14)";
  btf* b = btf__parse(btf_path.c_str(), nullptr);
  if (!b) return "cannot read BTF " + btf_path + ": " + errstr(errno);
  std::string why;
  static const char* const need[][2] = {{"sched_info", "last_queued"}, {"sched_info", "run_delay"},
                                        {"sched_info", "pcount"},      {"sched_entity", "cfs_rq"},
                                        {"cfs_rq", "rq"},              {"rq", "clock"},
                                        {"rq", "cpu"}};
  for (auto& n : need)
    if (why.empty() && !has_member(b, n[0], n[1]))
      why = std::string("the kernel has no ") + n[0] + "::" + n[1] +
            (strcmp(n[0], "sched_info") == 0 ? " (CONFIG_SCHED_INFO off)"
             : strcmp(n[1], "cfs_rq") == 0   ? " (CONFIG_FAIR_GROUP_SCHED off)"
                                             : "");
  btf__free(b);
  return why;
}

namespace {

// Parameter `i` of tracepoint `tp`'s BTF prototype in `b` (typedef
// btf_trace_<tp>: void (*)(void *ctx, args...), so args start at 1), with
// typedefs and modifiers resolved; nullptr when there is none.
const btf_type* tracepoint_param(const btf* b, const char* tp, int i) {
  const std::string name = std::string("btf_trace_") + tp;
  int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
  const btf_type* t = id > 0 ? btf__type_by_id(b, btf__resolve_type(b, id)) : nullptr;
  if (t && btf_is_ptr(t)) t = btf__type_by_id(b, t->type);
  if (!t || !btf_is_func_proto(t) || btf_vlen(t) <= i) return nullptr;
  const btf_type* arg = btf__type_by_id(b, btf_params(t)[i].type);
  while (arg && (btf_is_typedef(arg) || btf_is_mod(arg))) arg = btf__type_by_id(b, arg->type);
  return arg;
}

}  // namespace

bool switch_passes_prev_state(const std::string& btf_path) {
  btf* b = btf__parse(btf_path.c_str(), nullptr);
  if (!b) return false;
  // (void *ctx, bool preempt, prev, next, unsigned int prev_state)
  const btf_type* arg = tracepoint_param(b, "sched_switch", 4);
  const bool ok = arg && btf_is_int(arg);
  btf__free(b);
  return ok;
}

// mark_victim() passes the victim's task_struct since 6.6 (a pid before): the
// OOM programs read the task, so they load only where the kernel's BTF says so.
bool mark_victim_passes_task() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  bool ok = false;
  const btf_type* arg = tracepoint_param(vmlinux, "mark_victim", 1);
  if (arg && btf_is_ptr(arg)) {
    const btf_type* pointee = btf__type_by_id(vmlinux, arg->type);
    const char* name = pointee ? btf__name_by_offset(vmlinux, pointee->name_off) : nullptr;
    ok = name && strcmp(name, "task_struct") == 0;
  }
  btf__free(vmlinux);
  return ok;
}

bool ensure_mounts(const std::string& pin_dir, std::string* err) {
  if (!fs_is("/sys/fs/bpf", BPF_FS_MAGIC)) {
    mkdir("/sys/fs/bpf", 0700);
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
      *err = "cannot mount bpffs at /sys/fs/bpf: " + errstr(errno);
      return false;
    }
    LOG_INFO("mounted bpffs at /sys/fs/bpf");
  }
  if (!fs_is("/sys/kernel/tracing", TRACEFS_MAGIC) &&
      !fs_is("/sys/kernel/debug/tracing", TRACEFS_MAGIC)) {
    if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
      LOG_WARN("cannot mount tracefs at /sys/kernel/tracing (%s); raw_tp fallback "
               "and tracepoint names may be unavailable",
               errstr(errno).c_str());
  }
  if (mkdir(pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = "cannot create BPF pin directory " + pin_dir + ": " + errstr(errno);
    return false;
  }
  if (!fs_is(pin_dir.c_str(), BPF_FS_MAGIC)) {
    *err = "BPF pin directory " + pin_dir + " is not on a bpf filesystem";
    return false;
  }
  return true;
}

int cleanup_pins(const std::string& pin_dir, std::string* err) {
  DIR* d = opendir(pin_dir.c_str());
  if (!d) {
    if (errno == ENOENT) return 0;
    *err = "cannot open " + pin_dir + ": " + errstr(errno);
    return -1;
  }
  int removed = 0;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "colo_", 5) != 0) continue;  // only ours
    std::string p = pin_dir + "/" + e->d_name;
    if (unlink(p.c_str()) == 0) {
      removed++;
    } else {
      *err = "cannot remove " + p + ": " + errstr(errno);
    }
  }
  closedir(d);
  rmdir(pin_dir.c_str());  // only if empty; foreign files keep it
  return removed;
}

namespace {
// A read-only mapping of an mmapable array map (BPF_F_MMAPABLE): its entries
// read with no syscall, as a lookup would copy them (without a lock, while
// the programs write them). The agent's fast path reads colo_cpu (each CPU's
// per-class CPU time among its state) every 2 ms while BE runs: a lookup per
// CPU per sample otherwise.
class MappedArray {
 public:
  MappedArray() = default;
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;
  ~MappedArray() {
    if (base_ != MAP_FAILED) munmap(base_, len_);
  }
  // False (and lookups stay the way to read it) if the map cannot be mapped.
  bool map(const bpf_map* m) {
    if (!(bpf_map__map_flags(m) & BPF_F_MMAPABLE)) return false;
    elem_ = (bpf_map__value_size(m) + 7) & ~size_t{7};  // the kernel's elem_size
    n_ = bpf_map__max_entries(m);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    len_ = (elem_ * n_ + page - 1) / page * page;
    base_ = mmap(nullptr, len_, PROT_READ, MAP_SHARED, bpf_map__fd(m), 0);
    return base_ != MAP_FAILED;
  }
  bool mapped() const { return base_ != MAP_FAILED; }
  // Copies entry i into *out (sizeof(T) <= the value size); false if out of range.
  template <typename T>
  bool read(uint32_t i, T* out) const {
    if (!mapped() || i >= n_ || sizeof(T) > elem_) return false;
    memcpy(out, static_cast<const char*>(base_) + size_t{i} * elem_, sizeof(T));
    return true;
  }

 private:
  void* base_ = MAP_FAILED;
  size_t len_ = 0, elem_ = 0;
  uint32_t n_ = 0;
};
}  // namespace

struct Programs::Impl {
  colo_sched* sched = nullptr;
  colo_mem* mem = nullptr;
  colo_net* net = nullptr;
  ring_buffer* rb = nullptr;
  std::atomic<int> stats_fd{-1};  // set and closed by the agent's stats sampler
  std::atomic<bool> stats_warned{false};
  int ncpus = 0;
  std::function<void(const colo_urgent_event&)> cb;
  std::function<void()> be_cb;  // a colo_be_wake record came
  bool be_wake_ok = false;      // colo_be_wake is polled with rb
  bool be_wake_wanted = false;  // what was last written to the kernel
  MappedArray cpu_state_mm, rq_stage_mm;  // colo_cpu, colo_stage
  struct TcAttachment {
    std::string ifname;
    int ifindex;
    bool created_hook;
  };
  std::vector<TcAttachment> tc;

  ~Impl() {
    for (auto& t : tc) {
      bpf_tc_hook hook{};
      hook.sz = sizeof(hook);
      hook.ifindex = t.ifindex;
      hook.attach_point = BPF_TC_EGRESS;
      bpf_tc_opts o{};
      o.sz = sizeof(o);
      o.handle = kTcHandle;
      o.priority = kTcPriority;
      bpf_tc_detach(&hook, &o);
      if (t.created_hook) {
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
      }
    }
    if (rb) ring_buffer__free(rb);
    if (net) colo_net__destroy(net);
    if (mem) colo_mem__destroy(mem);
    if (sched) colo_sched__destroy(sched);
    if (stats_fd >= 0) close(stats_fd);
  }

  static constexpr uint32_t kTcHandle = 0xc01;
  static constexpr uint32_t kTcPriority = 0xc01;

  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(colo_urgent_event) || !self->cb) return 0;
    colo_urgent_event e;
    memcpy(&e, data, sizeof(e));
    self->cb(e);
    return 0;
  }

  static int on_be_wake(void* ctx, void*, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    self->be_wake_wanted = false;  // the kernel cleared it
    if (size >= sizeof(colo_be_wake_event) && self->be_cb) self->be_cb();
    return 0;
  }
};

namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

bpf_object_open_opts open_opts(const LoadOptions& opts) {
  bpf_object_open_opts o{};
  o.sz = sizeof(o);
  o.pin_root_path = opts.pin_dir.c_str();
  // CO-RE relocations against this file instead of the kernel's own BTF.
  if (!opts.btf_path.empty()) o.btf_custom_path = opts.btf_path.c_str();
  return o;
}

template <typename Skel>
void set_cgroup_knobs(Skel* s, const LoadOptions& opts) {
  s->rodata->cpu_on_v1 = opts.cpu_on_v1;
  s->rodata->mem_on_v1 = opts.mem_on_v1;
  s->rodata->cpu_hierarchy = opts.cpu_hierarchy;
  s->rodata->mem_hierarchy = opts.mem_hierarchy;
}

// Autoloads the tp_btf programs of an object or their raw_tp twins, never both,
// and never the BPF_PROG_TEST_RUN entries (colo_test_*: tests load them).
void choose_flavour(bpf_object* obj, bool btf) {
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    std::string_view sec = bpf_program__section_name(p);
    if (std::string_view(bpf_program__name(p)).starts_with("colo_test_"))
      bpf_program__set_autoload(p, false);
    else if (sec.starts_with("tp_btf/")) bpf_program__set_autoload(p, btf);
    else if (sec.starts_with("raw_tp/")) bpf_program__set_autoload(p, !btf);
  }
}

// Opens, configures and loads the sched object in one mode.
colo_sched* load_sched(const LoadOptions& opts, bool btf, int ncpus, std::string* err) {
  auto oo = open_opts(opts);
  colo_sched* s = colo_sched__open_opts(&oo);
  if (!s) {
    *err = "open sched object: " + errstr(errno);
    return nullptr;
  }
  set_cgroup_knobs(s, opts);
  s->rodata->smt_enabled = !opts.sibling_of.empty();
  const bool schedinfo = opts.wait_source == WaitSource::SchedInfo;
  s->rodata->wait_from_sched_info = schedinfo;
  s->rodata->switch_prev_state = opts.switch_prev_state;
  bpf_map__set_max_entries(s->maps.colo_cpu, ncpus);
  bpf_map__set_max_entries(s->maps.colo_stage, ncpus);
  bpf_map__set_max_entries(s->maps.colo_cg_sched, opts.max_cgroups);
  bpf_map__set_max_entries(s->maps.colo_class, opts.max_cgroups);
  bpf_map__set_max_entries(s->maps.colo_events, opts.ringbuf_bytes);
  choose_flavour(s->obj, btf);
  if (schedinfo)  // no wakeup program: the kernel keeps the queue time
    for (bpf_program* p : {s->progs.colo_wakeup_btf, s->progs.colo_wakenew_btf,
                           s->progs.colo_wakeup_raw, s->progs.colo_wakenew_raw})
      bpf_program__set_autoload(p, false);
  bpf_program__set_autoload(s->progs.colo_learn_self, opts.quiet_self);  // run once, below
  bpf_program__set_autoattach(s->progs.colo_learn_self, false);
  int e = colo_sched__load(s);
  if (e) {
    *err = std::string("load sched programs (") + (btf ? "tp_btf" : "raw_tp") + "): " + errstr(e);
    colo_sched__destroy(s);
    return nullptr;
  }
  // Before attach: no event of the agent's own is raised in between.
  if (opts.quiet_self) {
    // The kernel's number for this process (getpid() differs in a pid
    // namespace): colo_learn_self records its caller's.
    LIBBPF_OPTS(bpf_test_run_opts, run);
    if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.colo_learn_self), &run) != 0 ||
        !s->bss->quiet_tgid) {
      s->bss->quiet_tgid = static_cast<uint32_t>(getpid());
      LOG_WARN("could not learn this process's kernel pid (%s); using %d, right only in the "
               "host's pid namespace: elsewhere the agent's own waits may raise urgent events",
               errstr(errno).c_str(), static_cast<int>(getpid()));
    }
  }
  return s;
}

colo_mem* load_mem(const LoadOptions& opts, bool btf, std::string* err) {
  auto oo = open_opts(opts);
  colo_mem* s = colo_mem__open_opts(&oo);
  if (!s) {
    *err = "open mem object: " + errstr(errno);
    return nullptr;
  }
  set_cgroup_knobs(s, opts);
  bpf_map__set_max_entries(s->maps.colo_cg_mem, opts.max_cgroups);
  bpf_map__set_max_entries(s->maps.colo_class, opts.max_cgroups);
  choose_flavour(s->obj, btf);
  bool oom = mark_victim_passes_task();
  if (!oom) LOG_WARN("OOM kills per cgroup unavailable: this kernel's mark_victim passes no task");
  bpf_program__set_autoload(s->progs.colo_oom_btf, oom && btf);
  bpf_program__set_autoload(s->progs.colo_oom_raw, oom && !btf);
  int e = colo_mem__load(s);
  if (e) {
    *err = std::string("load memory programs: ") + errstr(e);
    colo_mem__destroy(s);
    return nullptr;
  }
  return s;
}

colo_net* load_net(const LoadOptions& opts, std::string* err) {
  auto oo = open_opts(opts);
  colo_net* s = colo_net__open_opts(&oo);
  if (!s) {
    *err = "open net object: " + errstr(errno);
    return nullptr;
  }
  set_cgroup_knobs(s, opts);
  bpf_map__set_max_entries(s->maps.colo_net, opts.max_cgroups);
  bpf_map__set_max_entries(s->maps.colo_net_cgcls, opts.max_cgroups);
  bpf_map__set_max_entries(s->maps.colo_class, opts.max_cgroups);
  int e = colo_net__load(s);
  if (e) {
    *err = std::string("load net program: ") + errstr(e);
    colo_net__destroy(s);
    return nullptr;
  }
  return s;
}

}  // namespace

Programs::~Programs() = default;

std::unique_ptr<Programs> Programs::load(const LoadOptions& opts, std::string* err) {
  route_libbpf_logs();
  if (!ensure_mounts(opts.pin_dir, err)) return nullptr;
  // Maps an older colo pinned here that colo_cpu and colo_stage replaced
  // (their layout changed: renamed, so that every other pinned map is kept):
  // used by nothing now. The two new ones hold no state of theirs, and start
  // together.
  for (const char* retired : {"colo_cpu_state", "colo_class_ns", "colo_rq_stage"})
    if (unlink((opts.pin_dir + "/" + retired).c_str()) == 0)
      LOG_INFO("removed %s/%s, pinned by an older colo: colo_cpu and colo_stage replaced it",
               opts.pin_dir.c_str(), retired);
  std::unique_ptr<Programs> p(new Programs());
  p->impl_ = std::make_unique<Impl>();
  Impl& im = *p->impl_;
  im.ncpus = libbpf_num_possible_cpus();
  if (im.ncpus <= 0) {
    *err = "cannot count possible CPUs";
    return nullptr;
  }

  // Without the kernel's BTF nothing CO-RE loads: say so, not what libbpf
  // reports for the first relocation it cannot do.
  const std::string btf_file = opts.btf_path.empty() ? kKernelBtf : opts.btf_path;
  if (access(btf_file.c_str(), R_OK) != 0) {
    *err = opts.btf_path.empty()
               ? std::string("kernel BTF missing: ") + kKernelBtf + ": " + errstr(errno) +
                     " (a kernel built without CONFIG_DEBUG_INFO_BTF); set bpf.btf_path to a "
                     "BTF file for this kernel (e.g. from BTFHub)"
               : "bpf.btf_path " + opts.btf_path + ": " + errstr(errno);
    return nullptr;
  }
  LoadOptions lo = opts;
  if (opts.wait_source != WaitSource::Wakeup) {
    utsname u{};
    uname(&u);
    const std::string why = schedinfo_unsupported(btf_file, u.release);
    if (why.empty()) {
      lo.wait_source = WaitSource::SchedInfo;
    } else if (opts.wait_source == WaitSource::SchedInfo) {
      *err = "bpf.wait_source sched_info: " + why + "; use auto or wakeup";
      return nullptr;
    } else {
      lo.wait_source = WaitSource::Wakeup;
      LOG_INFO("run-queue waits from wakeup programs: %s", why.c_str());
    }
  }
  p->wait_source_ = lo.wait_source;
  lo.switch_prev_state = switch_passes_prev_state(btf_file);
  std::vector<bool> modes;
  // tp_btf programs attach through the running kernel's BTF, which an
  // external file does not replace.
  const bool kernel_btf = opts.btf_path.empty() || access(kKernelBtf, R_OK) == 0;
  if (opts.mode != AttachMode::RawTp && kernel_btf) modes.push_back(true);
  if (opts.mode != AttachMode::TpBtf) modes.push_back(false);
  if (modes.empty()) {
    *err = std::string("bpf.attach tp_btf needs the kernel's BTF, and ") + kKernelBtf +
           " is missing; use auto or raw_tp with bpf.btf_path";
    return nullptr;
  }
  if (!kernel_btf && opts.mode == AttachMode::Auto)
    LOG_WARN("no kernel BTF at %s: tp_btf unavailable, raw_tp with CO-RE from %s", kKernelBtf,
             btf_file.c_str());
  std::string errs;
  bool retried_pins = false;
  for (size_t i = 0; i < modes.size(); i++) {
    bool btf = modes[i];
    std::string e;
    im.sched = load_sched(lo, btf, im.ncpus, &e);
    if (im.sched && colo_sched__attach(im.sched) != 0) {
      e = std::string("attach sched programs (") + (btf ? "tp_btf" : "raw_tp") + "): " +
          errstr(errno);
      colo_sched__destroy(im.sched);
      im.sched = nullptr;
    }
    if (im.sched) {
      p->mode_ = btf ? AttachMode::TpBtf : AttachMode::RawTp;
      break;
    }
    errs += (errs.empty() ? "" : "; ") + e;
    LOG_WARN("%s", e.c_str());
    // Maps pinned by an older colo with another layout make every load fail:
    // replace them once (their counters restart).
    if (i + 1 == modes.size() && !retried_pins) {
      std::string ce;
      if (cleanup_pins(opts.pin_dir, &ce) > 0) {
        LOG_WARN("removed pinned maps in %s that did not match this version; retrying",
                 opts.pin_dir.c_str());
        retried_pins = true;
        ensure_mounts(opts.pin_dir, &ce);
        i = static_cast<size_t>(-1);
      }
    }
  }
  if (!im.sched) {
    *err = errs;
    return nullptr;
  }
  bool btf = p->mode_ == AttachMode::TpBtf;
  im.sched->data->urgent_threshold_ns = opts.urgent_threshold_ns;
  im.sched->data->urgent_interval_ns = opts.urgent_interval_ns;

  // Siblings into the per-CPU state (keeping live state of adopted pinned maps).
  int cpu_fd = bpf_map__fd(im.sched->maps.colo_cpu);
  for (int c = 0; c < im.ncpus; c++) {
    uint32_t key = c;
    colo_cpu_state st{};
    bpf_map_lookup_elem(cpu_fd, &key, &st);
    int sib = c < static_cast<int>(opts.sibling_of.size()) ? opts.sibling_of[c] : -1;
    st.sibling = sib >= 0 ? static_cast<uint32_t>(sib) : COLO_NO_SIBLING;
    bpf_map_update_elem(cpu_fd, &key, &st, BPF_ANY);
  }

  if (!im.cpu_state_mm.map(im.sched->maps.colo_cpu) ||
      !im.rq_stage_mm.map(im.sched->maps.colo_stage))
    LOG_WARN("cannot map colo_cpu/colo_stage (%s): read by lookups instead",
             errstr(errno).c_str());

  if (opts.load_mem) {
    std::string e;
    im.mem = load_mem(opts, btf, &e);
    if (im.mem && colo_mem__attach(im.mem) != 0) {
      e = "attach memory programs: " + errstr(errno);
      colo_mem__destroy(im.mem);
      im.mem = nullptr;
    }
    if (!im.mem) LOG_WARN("memory reclaim signals unavailable: %s", e.c_str());
  }
  if (opts.load_net) {
    std::string e;
    im.net = load_net(opts, &e);
    if (!im.net) LOG_WARN("egress accounting unavailable: %s", e.c_str());
  }

  im.rb = ring_buffer__new(bpf_map__fd(im.sched->maps.colo_events), Impl::on_event, &im, nullptr);
  if (!im.rb) LOG_WARN("urgent-event ring buffer unavailable: %s", errstr(errno).c_str());
  if (im.rb) {
    int e = ring_buffer__add(im.rb, bpf_map__fd(im.sched->maps.colo_be_wake), Impl::on_be_wake, &im);
    im.be_wake_ok = e == 0;
    if (e)
      LOG_WARN("BE-wake ring buffer unavailable (%s): with no BE running, BE that starts is seen "
               "at the next controller tick",
               errstr(e).c_str());
  }

  p->set_run_time_stats(opts.run_time_stats);
  LOG_INFO("BPF programs attached (%s, run-queue waits from %s), pinned maps in %s",
           attach_mode_name(p->mode_), wait_source_name(p->wait_source_), opts.pin_dir.c_str());
  if (opts.quiet_self)
    LOG_INFO("urgent events: not for this process's own threads (pid %u in the kernel's numbering)",
             static_cast<unsigned>(im.sched->bss->quiet_tgid));
  return p;
}

bool Programs::read_sched(std::unordered_map<uint64_t, colo_cg_sched>* out) const {
  out->clear();
  int fd = bpf_map__fd(impl_->sched->maps.colo_cg_sched);
  for_each_key<uint64_t>(fd, [&](uint64_t k) {
    colo_cg_sched v;
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) (*out)[k] = v;
  });
  return true;
}

bool Programs::read_mem(std::unordered_map<uint64_t, colo_cg_mem>* out) const {
  out->clear();
  if (!impl_->mem) return false;
  int fd = bpf_map__fd(impl_->mem->maps.colo_cg_mem);
  for_each_key<uint64_t>(fd, [&](uint64_t k) {
    colo_cg_mem v;
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) (*out)[k] = v;
  });
  return true;
}

bool Programs::read_net(NetCounters* out) const {
  out->clear();
  if (!impl_->net) return false;
  int fd = bpf_map__fd(impl_->net->maps.colo_net);
  std::vector<colo_net_val> vals(impl_->ncpus);
  for_each_key<colo_net_key>(fd, [&](const colo_net_key& k) {
    if (bpf_map_lookup_elem(fd, &k, vals.data()) != 0) return;
    colo_net_val sum{};
    for (auto& v : vals) {
      sum.bytes += v.bytes;
      sum.packets += v.packets;
    }
    (*out)[k] = sum;
  });
  return true;
}

namespace {
// Every CPU's entry of a per-CPU-indexed array map (zeroed where unreadable),
// through its mapping `mm` where it has one.
template <typename T>
std::vector<T> read_per_cpu_entries(int fd, const MappedArray& mm, int ncpus) {
  std::vector<T> out(ncpus);
  for (int c = 0; c < ncpus; c++) {
    uint32_t k = c;
    if (mm.read(k, &out[c])) continue;
    if (bpf_map_lookup_elem(fd, &k, &out[c]) != 0) out[c] = T{};
  }
  return out;
}
}  // namespace

void add_staged(const colo_rq_stage& sg, std::unordered_map<uint64_t, colo_cg_sched>* out) {
  if (sg.cgid && sg.n) {
    colo_cg_sched& st = (*out)[sg.cgid];
    const uint32_t n = std::min<uint32_t>(sg.n, COLO_STAGE_LEN);
    for (uint32_t i = 0; i < n; i++)
      if (sg.used[i] < COLO_HIST_SLOTS) st.rq_slots[sg.used[i]] += sg.count[sg.used[i]];
    st.rq_sum_ns += sg.sum_ns;
  }
  if (sg.pend_cgid && sg.pend_slot < COLO_HIST_SLOTS) {
    colo_cg_sched& st = (*out)[sg.pend_cgid];
    st.rq_slots[sg.pend_slot] += 1;
    st.rq_sum_ns += sg.pend_ns;
  }
}

void add_pending_preemptions(const colo_cpu_state& cs, PendingPreemptions* out) {
  if (!cs.pre_count || !cs.pre_victim || cs.pre_cls >= COLO_CLASS_MAX) return;
  out->by_victim[cs.pre_victim][cs.pre_cls] += cs.pre_count;
  out->pairs[cs.pre_victim][cs.pre_aggr] += cs.pre_count;
}

std::vector<colo_cpu_state> Programs::read_cpus() const {
  return read_per_cpu_entries<colo_cpu_state>(bpf_map__fd(impl_->sched->maps.colo_cpu),
                                              impl_->cpu_state_mm, impl_->ncpus);
}

void set_cgroup_hierarchies(const CgroupLayout& layout, LoadOptions* lo) {
  const Hierarchy* cpu_h = layout.for_controller("cpu");
  const Hierarchy* mem_h = layout.for_controller("memory");
  lo->cpu_on_v1 = cpu_h && !cpu_h->v2;
  lo->cpu_hierarchy = lo->cpu_on_v1 ? cpu_h->id : 0;
  lo->mem_on_v1 = mem_h && !mem_h->v2;
  lo->mem_hierarchy = lo->mem_on_v1 ? mem_h->id : 0;
}

bool Programs::per_cpu_state_mapped() const {
  return impl_->cpu_state_mm.mapped() && impl_->rq_stage_mm.mapped();
}

std::vector<colo_rq_stage> Programs::read_rq_stages() const {
  return read_per_cpu_entries<colo_rq_stage>(bpf_map__fd(impl_->sched->maps.colo_stage),
                                             impl_->rq_stage_mm, impl_->ncpus);
}

namespace {
template <size_t N>
std::array<uint64_t, N> sum_percpu_array(int fd, int ncpus) {
  std::array<uint64_t, N> out{};
  std::vector<uint64_t> vals(ncpus);
  for (uint32_t i = 0; i < N; i++) {
    if (bpf_map_lookup_elem(fd, &i, vals.data()) != 0) continue;
    for (auto v : vals) out[i] += v;
  }
  return out;
}
}  // namespace

uint32_t Programs::cgroup_tree_gen() const {
  return __atomic_load_n(&impl_->sched->bss->tree_gen, __ATOMIC_RELAXED);
}

std::array<uint64_t, COLO_DROP_MAX> Programs::read_drops() const {
  return sum_percpu_array<COLO_DROP_MAX>(bpf_map__fd(impl_->sched->maps.colo_drops),
                                         impl_->ncpus);
}

std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint64_t>> Programs::read_aggressors()
    const {
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint64_t>> out;
  int fd = bpf_map__fd(impl_->sched->maps.colo_aggr);
  for_each_key<colo_aggr_key>(fd, [&](const colo_aggr_key& k) {
    colo_aggr_val v;
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) out[k.victim_cgid][k.aggressor_cgid] = v.count;
  });
  return out;
}

std::vector<ProgStats> Programs::prog_stats() const {
  std::vector<ProgStats> out;
  auto collect = [&](bpf_object* obj) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
      int fd = bpf_program__fd(prog);
      if (fd < 0) continue;
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
      out.push_back({bpf_program__name(prog), info.run_time_ns, info.run_cnt});
    }
  };
  collect(impl_->sched->obj);
  if (impl_->mem) collect(impl_->mem->obj);
  if (impl_->net) collect(impl_->net->obj);
  return out;
}

int Programs::set_class(uint64_t cgid, uint32_t hierarchy, uint32_t cls) {
  colo_class_key k{cgid, hierarchy, 0};
  if (bpf_map_update_elem(bpf_map__fd(impl_->sched->maps.colo_class), &k, &cls, BPF_ANY) != 0)
    return -errno;
  impl_->sched->data->class_gen++;  // per-CPU class caches look it up again
  return 0;
}

int Programs::clear_class(uint64_t cgid, uint32_t hierarchy) {
  colo_class_key k{cgid, hierarchy, 0};
  if (bpf_map_delete_elem(bpf_map__fd(impl_->sched->maps.colo_class), &k) != 0 && errno != ENOENT)
    return -errno;
  impl_->sched->data->class_gen++;
  return 0;
}

std::vector<std::pair<colo_class_key, uint32_t>> Programs::read_classes() const {
  std::vector<std::pair<colo_class_key, uint32_t>> out;
  int fd = bpf_map__fd(impl_->sched->maps.colo_class);
  for_each_key<colo_class_key>(fd, [&](const colo_class_key& k) {
    uint32_t v;
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) out.emplace_back(k, v);
  });
  return out;
}

namespace {
template <typename K, typename IdOf>
size_t gc_map(int fd, const std::function<bool(uint64_t)>& live, IdOf id_of) {
  std::vector<K> dead;
  for_each_key<K>(fd, [&](const K& k) {
    if (!live(id_of(k))) dead.push_back(k);
  });
  for (auto& k : dead) bpf_map_delete_elem(fd, &k);
  return dead.size();
}
}  // namespace

size_t Programs::gc_sched(const std::function<bool(uint64_t)>& live) {
  return gc_map<uint64_t>(bpf_map__fd(impl_->sched->maps.colo_cg_sched), live,
                          [](uint64_t k) { return k; });
}

size_t Programs::gc_mem(const std::function<bool(uint64_t)>& live) {
  if (!impl_->mem) return 0;
  return gc_map<uint64_t>(bpf_map__fd(impl_->mem->maps.colo_cg_mem), live,
                          [](uint64_t k) { return k; });
}

size_t Programs::gc_net(const std::function<bool(uint64_t)>& live) {
  if (!impl_->net) return 0;
  return gc_map<colo_net_key>(bpf_map__fd(impl_->net->maps.colo_net), live,
                              [](const colo_net_key& k) { return k.cgid; });
}

size_t Programs::gc_aggr(const std::function<bool(uint64_t)>& live) {
  int fd = bpf_map__fd(impl_->sched->maps.colo_aggr);
  std::vector<colo_aggr_key> dead;
  for_each_key<colo_aggr_key>(fd, [&](const colo_aggr_key& k) {
    if (!live(k.victim_cgid) || (k.aggressor_cgid && !live(k.aggressor_cgid))) dead.push_back(k);
  });
  for (auto& k : dead) bpf_map_delete_elem(fd, &k);
  return dead.size();
}

bool Programs::set_run_time_stats(bool on) {
  if (!on && impl_->stats_fd >= 0) {
    close(impl_->stats_fd);
    impl_->stats_fd = -1;
  }
  if (on && impl_->stats_fd < 0) {
    impl_->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (impl_->stats_fd < 0) {
      // Once: a sampling agent asks again every period.
      if (!impl_->stats_warned.exchange(true))
        LOG_WARN("BPF run-time stats unavailable (%s): colo_bpf_prog_run_seconds_total stays 0",
                 errstr(errno).c_str());
      return false;
    }
  }
  return true;
}

bool Programs::run_time_stats() const { return impl_->stats_fd >= 0; }

void Programs::set_urgent(uint64_t threshold_ns, uint64_t interval_ns) {
  impl_->sched->data->urgent_threshold_ns = threshold_ns;
  impl_->sched->data->urgent_interval_ns = interval_ns;
}

int Programs::poll_events(int timeout_ms, const std::function<void(const colo_urgent_event&)>& cb,
                          const std::function<void()>& be_running) {
  if (!impl_->rb) return -ENOTSUP;
  impl_->cb = cb;
  impl_->be_cb = be_running;
  return ring_buffer__poll(impl_->rb, timeout_ms);
}

bool Programs::want_be_wake(bool on) {
  if (!impl_->be_wake_ok) return false;
  if (impl_->be_wake_wanted != on) {
    __atomic_store_n(&impl_->sched->bss->be_wake_wanted, on ? 1u : 0u, __ATOMIC_RELAXED);
    impl_->be_wake_wanted = on;
  }
  return true;
}

bool Programs::attach_egress(const std::string& ifname, std::string* err) {
  if (!impl_->net) {
    *err = "egress program not loaded";
    return false;
  }
  int ifindex = if_nametoindex(ifname.c_str());
  if (!ifindex) {
    *err = "no interface " + ifname + " in this network namespace";
    return false;
  }
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_EGRESS;
  int e = bpf_tc_hook_create(&hook);
  bool created = e == 0;
  if (e && e != -EEXIST) {
    *err = "create clsact on " + ifname + ": " + errstr(e);
    return false;
  }
  bpf_tc_opts o{};
  o.sz = sizeof(o);
  o.handle = Impl::kTcHandle;
  o.priority = Impl::kTcPriority;
  o.prog_fd = bpf_program__fd(impl_->net->progs.colo_egress);
  o.flags = BPF_TC_F_REPLACE;  // a filter of a crashed colo at our handle is ours
  e = bpf_tc_attach(&hook, &o);
  if (e) {
    *err = "attach egress filter on " + ifname + ": " + errstr(e);
    if (created) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    return false;
  }
  impl_->tc.push_back({ifname, ifindex, created});
  LOG_INFO("egress accounting attached on %s", ifname.c_str());
  return true;
}

void Programs::detach_egress(const std::string& ifname) {
  auto& tc = impl_->tc;
  for (auto it = tc.begin(); it != tc.end(); ++it) {
    if (it->ifname != ifname) continue;
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = it->ifindex;
    hook.attach_point = BPF_TC_EGRESS;
    bpf_tc_opts o{};
    o.sz = sizeof(o);
    o.handle = Impl::kTcHandle;
    o.priority = Impl::kTcPriority;
    bpf_tc_detach(&hook, &o);
    if (it->created_hook) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    tc.erase(it);
    LOG_INFO("egress accounting detached from %s", ifname.c_str());
    return;
  }
}

int Programs::set_net_shaped(uint32_t ifindex, bool on) {
  if (!impl_->net) return -ENOTSUP;
  int fd = bpf_map__fd(impl_->net->maps.colo_net_if);
  uint32_t v = on ? 1 : 0;
  int e = on ? bpf_map_update_elem(fd, &ifindex, &v, BPF_ANY) : bpf_map_delete_elem(fd, &ifindex);
  return e && !(errno == ENOENT && !on) ? -errno : 0;
}

int Programs::set_net_cgroup_leaf(uint64_t v2_cgid, uint32_t minor) {
  if (!impl_->net) return -ENOTSUP;
  if (bpf_map_update_elem(bpf_map__fd(impl_->net->maps.colo_net_cgcls), &v2_cgid, &minor,
                          BPF_ANY) != 0)
    return -errno;
  return 0;
}

int Programs::clear_net_cgroup_leaf(uint64_t v2_cgid) {
  if (!impl_->net) return -ENOTSUP;
  if (bpf_map_delete_elem(bpf_map__fd(impl_->net->maps.colo_net_cgcls), &v2_cgid) != 0 &&
      errno != ENOENT)
    return -errno;
  return 0;
}

colo_net_val Programs::read_net_class(uint32_t ifindex, uint32_t cls) const {
  colo_net_val sum{};
  if (!impl_->net) return sum;
  colo_net_class_key k{ifindex, cls};
  std::vector<colo_net_val> vals(impl_->ncpus);
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->net->maps.colo_net_class), &k, vals.data()) != 0)
    return sum;
  for (auto& v : vals) {
    sum.bytes += v.bytes;
    sum.packets += v.packets;
  }
  return sum;
}

std::vector<std::string> Programs::egress_interfaces() const {
  std::vector<std::string> out;
  for (auto& t : impl_->tc) out.push_back(t.ifname);
  return out;
}

}  // namespace colo::bpf
