#include "userspace/cgroup/bigbox.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <charconv>
#include <set>

#include "userspace/util/fs.h"
#include "userspace/util/log.h"
#include "userspace/util/parse.h"

namespace colo {
namespace {

constexpr size_t kMaxWriteLog = 256;
constexpr uint64_t kMinQuotaUs = 1000;  // the kernel's floor for cfs_quota_us

// Names of the directories directly below `dir` (not hidden ones), sorted;
// none if it vanished.
std::vector<std::string> subdir_names(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Directories below `dir` (not `dir` itself), parents before children.
void walk_dirs(const std::string& dir, std::vector<std::string>* out, int depth = 0) {
  if (depth > 32) return;
  for (auto& name : subdir_names(dir)) {
    out->push_back(dir + "/" + name);
    walk_dirs(out->back(), out, depth + 1);
  }
}

std::vector<pid_t> read_procs(const std::string& file) {
  std::vector<pid_t> out;
  auto text = read_file(file);
  if (!text) return out;  // vanished: fine
  for (auto l : split(*text, '\n')) {
    l = trim(l);
    pid_t p = 0;
    auto [ptr, ec] = std::from_chars(l.data(), l.data() + l.size(), p);
    if (ec == std::errc() && p > 0) out.push_back(p);
  }
  return out;
}

// Creates `rel` below `mount` level by level; records the levels it made.
bool make_path(const std::string& mount, const std::string& rel,
               std::vector<std::string>* created, std::string* err) {
  std::string cur = mount;
  for (auto part : split(rel, '/')) {
    if (part.empty()) continue;
    cur += "/" + std::string(part);
    if (mkdir(cur.c_str(), 0755) == 0) {
      created->push_back(cur);
    } else if (errno != EEXIST) {
      *err = "cannot create " + cur + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

std::string parent_of(const std::string& p) { return p.substr(0, p.find_last_of('/')); }

}  // namespace

std::optional<BigBox> BigBox::open(const CgroupLayout& layout, const Options& opts,
                                   std::string* err) {
  BigBox box;
  box.opts_ = opts;
  const Hierarchy* cpu = layout.for_controller("cpu");
  const Hierarchy* cpuset = layout.for_controller("cpuset");
  const Hierarchy* mem = layout.for_controller("memory");
  const Hierarchy* v2 = layout.unified();
  if (!cpu || !mem) {
    *err = "the big box needs the cpu and memory controllers; found " +
           std::string(cpu ? "" : "no cpu ") + (mem ? "" : "no memory ") + "hierarchy under " +
           layout.root();
    return std::nullopt;
  }
  // Each hierarchy once (v2 holds several controllers in one directory).
  std::map<std::string, std::string> rel_of_mount;
  std::pair<const Hierarchy*, const char*> hs[] = {
      {cpu, "cpu"}, {cpuset, "cpuset"}, {mem, "memory"}, {v2, "unified"}};
  for (auto [h, ctrl] : hs)
    if (h && !rel_of_mount.count(h->mount)) rel_of_mount[h->mount] = box.rel_path_of(ctrl);
  std::vector<std::string> created;
  for (auto& [m, rel] : rel_of_mount) {
    std::string dir = m + rel;
    if (is_dir(dir)) continue;
    if (!opts.create) {
      *err = "the big box " + dir + " does not exist and cgroup.bigbox_create is off (adopt only)";
      return std::nullopt;
    }
    if (opts.dry_run) continue;
    if (!make_path(m, rel, &created, err)) return std::nullopt;
  }
  box.cpu_dir_ = cpu->mount + rel_of_mount[cpu->mount];
  box.cpu_v2_ = cpu->v2;
  box.cpu_mount_ = cpu->mount;
  for (auto& dir : created)
    if (box.cpu_dir_.rfind(dir + "/", 0) == 0) box.created_above_.push_back(dir);
  box.mem_dir_ = mem->mount + rel_of_mount[mem->mount];
  box.mem_mount_ = mem->mount;
  box.mem_v2_ = mem->v2;
  if (cpuset) {
    box.cpuset_dir_ = cpuset->mount + rel_of_mount[cpuset->mount];
    box.cpuset_v2_ = cpuset->v2;
  }
  if (v2) box.v2_dir_ = v2->mount + rel_of_mount[v2->mount];

  // Levels colo just made: a v1 cpuset starts with no CPUs and no memory nodes
  // (no task could join), so it inherits its parent's; on v2 the controllers
  // are enabled for the level below. Only in directories colo created.
  for (auto& dir : created) {
    if (cpuset && !cpuset->v2 && dir.rfind(cpuset->mount + "/", 0) == 0) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        auto v = read_file(parent_of(dir) + "/" + f);
        if (v) write_file(dir + "/" + f, std::string(trim(*v)));
      }
    }
  }
  for (auto& dir : created) {
    if (!v2 || dir.rfind(v2->mount + "/", 0) != 0 || dir == box.v2_dir_) continue;
    std::string want;
    for (const char* c : {"cpu", "cpuset", "memory"})
      if (std::find(v2->controllers.begin(), v2->controllers.end(), c) != v2->controllers.end())
        want += std::string(want.empty() ? "+" : " +") + c;
    if (!want.empty()) write_file(dir + "/cgroup.subtree_control", want);
  }
  if (!created.empty()) LOG_INFO("created the big box %s", opts.rel_path.c_str());
  box.created_ = created;
  return box;
}

std::string BigBox::rel_path_of(const std::string& controller) const {
  auto it = opts_.rel_path_for.find(controller);
  return it != opts_.rel_path_for.end() ? it->second : opts_.rel_path;
}

std::vector<std::string> BigBox::dirs() const {
  std::vector<std::string> out;
  for (const std::string* d : {&cpu_dir_, &cpuset_dir_, &mem_dir_, &v2_dir_})
    if (!d->empty() && std::find(out.begin(), out.end(), *d) == out.end()) out.push_back(*d);
  return out;
}

bool BigBox::owns(const std::string& path) const {
  if (path.find("/../") != std::string::npos || path.find("/./") != std::string::npos)
    return false;
  for (auto& d : dirs())
    if (path.rfind(d + "/", 0) == 0) return true;
  // The files (not subcgroups) of a level above the box that colo created.
  return created_above(parent_of(path));
}

bool BigBox::created_above(const std::string& dir) const {
  return std::find(created_above_.begin(), created_above_.end(), dir) != created_above_.end();
}

int BigBox::write(const std::string& path, const std::string& value) {
  CgroupWrite w{path, value, 0};
  const bool refused = !owns(path);
  if (refused) {
    LOG_ERROR("refusing to write %s: outside the big box", path.c_str());
    w.err = EPERM;
  } else if (opts_.dry_run) {
    LOG_INFO("dry-run: would write '%s' to %s", value.c_str(), path.c_str());
  } else {
    int e = opts_.write_fn ? opts_.write_fn(path, value) : write_file(path, value);
    w.err = e < 0 ? -e : 0;
  }
  // One log line when a file starts failing (or fails with another error) and
  // one when it works again; every failure is counted. The controller keeps
  // its last applied state and retries (a quota cut on the next fast-path
  // sample, the rest on the next tick).
  auto f = failing_.find(path);
  if (w.err) {
    const char* name = strerrorname_np(w.err);
    write_errors_[{path.substr(path.find_last_of('/') + 1), name ? name : std::to_string(w.err)}]++;
    // ESRCH: a task that exited before it could be moved, not a fault.
    if (!refused && w.err != ESRCH && (f == failing_.end() || f->second != w.err)) {
      LOG_WARN("write '%s' to %s failed: %s (%s); kept the last applied value, retrying on "
               "later ticks, counted in colo_bigbox_write_errors_total, logged again only "
               "when it changes",
               value.c_str(), path.c_str(), strerror(w.err), name ? name : "?");
      failing_[path] = w.err;
    }
  } else if (f != failing_.end()) {
    LOG_INFO("write to %s works again", path.c_str());
    failing_.erase(f);
  }
  if (writes_.size() >= kMaxWriteLog) writes_.erase(writes_.begin());
  writes_.push_back(w);
  return -w.err;
}

std::vector<std::string> BigBox::normal_weight_levels() const {
  std::vector<std::string> out;
  if (cpu_mount_.empty() || cpu_dir_.rfind(cpu_mount_ + "/", 0) != 0) return out;
  // Each level from the hierarchy root's child down to the box's parent.
  for (size_t at = cpu_dir_.find('/', cpu_mount_.size() + 1); at != std::string::npos;
       at = cpu_dir_.find('/', at + 1)) {
    const std::string dir = cpu_dir_.substr(0, at);
    if (created_above(dir)) continue;
    const std::string next = cpu_dir_.substr(at + 1, cpu_dir_.find('/', at + 1) - at - 1);
    if (subdir_names(dir) != std::vector<std::string>{next}) continue;  // shared
    if (!read_procs(dir + "/cgroup.procs").empty()) continue;
    if (read_line(dir + "/cpu.idle").value_or("0") == "1") continue;
    auto w = read_int(dir + weight_file());
    if (w && *w <= min_weight()) continue;
    out.push_back(dir);
  }
  return out;
}

std::optional<std::string> BigBox::read(const std::string& path) const {
  auto v = read_file(path);
  if (!v) return std::nullopt;
  return std::string(trim(*v));
}

int BigBox::set_min_weight() {
  int rc = 0;
  std::vector<std::string> levels = created_above_;
  levels.push_back(cpu_dir_);
  for (auto& dir : levels) {
    int e = write(dir + weight_file(), std::to_string(min_weight()));
    if (!rc) rc = e;
    // cpu.idle (5.15+): the level's tasks run as SCHED_IDLE against LS.
    if (path_exists(dir + "/cpu.idle")) {
      e = write(dir + "/cpu.idle", "1");
      if (!rc) rc = e;
    }
  }
  for (auto& dir : normal_weight_levels())
    LOG_WARN("%s holds only the big box but competes at a normal CPU weight: the box's minimum "
             "weight and cpu.idle act only against its siblings, so LS tasks outside %s wait for "
             "BE's time slices; colo did not create it and does not write it. Set cpu.idle=1 "
             "(or the minimum weight) on it, or let colo create the box's parents",
             dir.c_str(), dir.c_str());
  return rc;
}

int BigBox::set_cpu_quota(double cores, uint64_t period_us) {
  if (cpu_v2_) {
    if (cores < 0) return write(cpu_dir_ + "/cpu.max", "max " + std::to_string(period_us));
    uint64_t q = std::max<uint64_t>(kMinQuotaUs, std::llround(cores * period_us));
    return write(cpu_dir_ + "/cpu.max", std::to_string(q) + " " + std::to_string(period_us));
  }
  auto cur_period = read(cpu_dir_ + "/cpu.cfs_period_us");
  if (!cur_period || *cur_period != std::to_string(period_us)) {
    // The period can only change while the quota allows it: lift it first.
    write(cpu_dir_ + "/cpu.cfs_quota_us", "-1");
    if (int e = write(cpu_dir_ + "/cpu.cfs_period_us", std::to_string(period_us))) return e;
  }
  if (cores < 0) return write(cpu_dir_ + "/cpu.cfs_quota_us", "-1");
  uint64_t q = std::max<uint64_t>(kMinQuotaUs, std::llround(cores * period_us));
  return write(cpu_dir_ + "/cpu.cfs_quota_us", std::to_string(q));
}

int BigBox::set_cpuset(const std::vector<int>& cpus) {
  if (cpuset_dir_.empty()) return -ENOTSUP;
  if (cpus.empty()) {
    LOG_ERROR("refusing an empty cpuset for the big box");
    return -EINVAL;
  }
  std::string want = format_cpu_list(cpus);
  if (cpuset_v2_) return write(cpuset_dir_ + "/cpuset.cpus", want);
  // v1: a cpuset must contain its children's CPUs. Widen top-down to
  // (current ∪ new), then narrow bottom-up to the new set.
  std::vector<std::string> tree = {cpuset_dir_};
  walk_dirs(cpuset_dir_, &tree);
  std::vector<std::string> wide(tree.size());
  for (size_t i = 0; i < tree.size(); i++) {
    auto cur = read(tree[i] + "/cpuset.cpus");
    auto curl = cur ? parse_cpu_list(*cur) : std::nullopt;
    std::vector<int> u = cpus;
    if (curl) u.insert(u.end(), curl->begin(), curl->end());
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    wide[i] = format_cpu_list(u);
    if (!cur || *cur != wide[i]) write(tree[i] + "/cpuset.cpus", wide[i]);
  }
  int rc = 0;
  for (size_t i = tree.size(); i-- > 0;) {
    if (wide[i] == want) continue;
    int e = write(tree[i] + "/cpuset.cpus", want);
    if (i == 0) rc = e;
  }
  return rc;
}

int BigBox::set_memory_limit(uint64_t bytes) {
  if (mem_v2_) {
    std::string max = bytes ? std::to_string(bytes) : "max";
    std::string high = bytes ? std::to_string(bytes / 20 * 19) : "max";
    auto cur = memory_limit();
    bool shrinking = bytes && (!cur || bytes < *cur);
    // Shrinking: high first so reclaim starts before max bites; growing: max first.
    if (shrinking) {
      write(mem_dir_ + "/memory.high", high);
      return write(mem_dir_ + "/memory.max", max);
    }
    int rc = write(mem_dir_ + "/memory.max", max);
    write(mem_dir_ + "/memory.high", high);
    return rc;
  }
  return write(mem_dir_ + "/memory.limit_in_bytes", bytes ? std::to_string(bytes) : "-1");
}

int BigBox::set_oom_first() {
  int n = 0;
  for (pid_t pid : tasks()) {
    std::string p = "/proc/" + std::to_string(pid) + "/oom_score_adj";
    auto cur = read(p);
    if (!cur || *cur == "1000") continue;
    if (opts_.dry_run) {
      LOG_INFO("dry-run: would set oom_score_adj 1000 for BE task %d", pid);
      continue;
    }
    // pid came from the box's cgroup.procs: a BE task (it may have exited since).
    if (write_file(p, "1000") == 0) n++;
  }
  return n;
}

std::vector<std::string> BigBox::procs_files() const {
  std::vector<std::string> out;
  for (auto& d : dirs()) out.push_back(d + "/cgroup.procs");
  return out;
}

int BigBox::add_task(pid_t pid) {
  int rc = 0;
  for (auto& f : procs_files()) {
    int e = write(f, std::to_string(pid));
    if (e && !rc) rc = e;
  }
  return rc;
}

namespace {
constexpr const char* kPriorityXattr = "trusted.colo.priority";
}  // namespace

bool BigBox::valid_job_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool BigBox::create_job(const std::string& name, int priority, std::string* err) {
  if (!valid_job_name(name)) {
    *err = "invalid job name '" + name + "' (letters, digits, . _ -)";
    return false;
  }
  std::vector<std::string> made;
  for (auto& box : dirs()) {
    std::string dir = box + "/" + name;
    if (opts_.dry_run) {
      LOG_INFO("dry-run: would create job cgroup %s", dir.c_str());
      continue;
    }
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *err = "cannot create " + dir + ": " + strerror(errno);
      for (auto it = made.rbegin(); it != made.rend(); ++it) rmdir(it->c_str());
      return false;
    }
    made.push_back(dir);
    if (box == cpuset_dir_ && !cpuset_v2_)
      for (const char* f : {"cpuset.cpus", "cpuset.mems"})
        if (auto v = read(box + "/" + f)) write(dir + "/" + f, *v);
  }
  if (!opts_.dry_run && priority != 0) {
    std::string v = std::to_string(priority);
    if (setxattr((cpu_dir_ + "/" + name).c_str(), kPriorityXattr, v.data(), v.size(), 0) != 0)
      LOG_WARN("job %s: cannot keep its priority (%s): it is evicted as priority 0",
               name.c_str(), strerror(errno));
  }
  return true;
}

std::vector<std::string> BigBox::job_procs_files(const std::string& name) const {
  std::vector<std::string> out;
  for (auto& box : dirs()) out.push_back(box + "/" + name + "/cgroup.procs");
  return out;
}

std::vector<std::string> BigBox::jobs() const {
  std::vector<std::string> out;
  for (auto& name : subdir_names(cpu_dir_))
    if (valid_job_name(name)) out.push_back(name);
  return out;
}

std::vector<pid_t> BigBox::job_tasks(const std::string& name) const {
  std::vector<pid_t> out;
  std::vector<std::string> tree{cpu_dir_ + "/" + name};
  walk_dirs(tree[0], &tree);
  for (auto& d : tree)
    for (pid_t p : read_procs(d + "/cgroup.procs")) out.push_back(p);
  return out;
}

std::vector<pid_t> BigBox::tasks() const {
  std::vector<pid_t> out;
  std::vector<std::string> tree = {cpu_dir_};
  walk_dirs(cpu_dir_, &tree);
  for (auto& d : tree)
    for (pid_t p : read_procs(d + "/cgroup.procs")) out.push_back(p);
  return out;
}

std::vector<pid_t> BigBox::own_tasks() const { return read_procs(cpu_dir_ + "/cgroup.procs"); }

std::optional<uint64_t> BigBox::job_memory_usage(const std::string& name) const {
  auto v = read_int(mem_dir_ + "/" + name + (mem_v2_ ? "/memory.current" : "/memory.usage_in_bytes"));
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

int BigBox::job_priority(const std::string& name) const {
  char buf[32];
  ssize_t n = getxattr((cpu_dir_ + "/" + name).c_str(), kPriorityXattr, buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  buf[n] = 0;
  return std::atoi(buf);
}

bool BigBox::kill_job(const std::string& name) {
  if (v2_dir_.empty()) return false;
  std::string f = v2_dir_ + "/" + name + "/cgroup.kill";
  if (access(f.c_str(), F_OK) != 0) return false;
  return write(f, "1") == 0;
}

bool BigBox::remove_job(const std::string& name) {
  if (!valid_job_name(name)) return false;
  bool ok = true;
  for (auto& box : dirs()) {
    std::string dir = box + "/" + name;
    if (opts_.dry_run || !is_dir(dir)) continue;
    // Cgroups the job made below its own go first, deepest first: an empty
    // one would keep the job's from going. One that still holds a task
    // stays, and so does the job's (the failure shows there).
    std::vector<std::string> below;
    walk_dirs(dir, &below);
    for (auto it = below.rbegin(); it != below.rend(); ++it) rmdir(it->c_str());
    if (rmdir(dir.c_str()) != 0) ok = false;
  }
  return ok;
}

std::vector<std::string> BigBox::children() const {
  std::vector<std::string> tree;
  walk_dirs(cpu_dir_, &tree);
  for (auto& d : tree) d = d.substr(cpu_dir_.size());
  return tree;
}

std::optional<double> BigBox::cpu_quota_cores() const {
  if (cpu_v2_) {
    auto v = read(cpu_dir_ + "/cpu.max");
    if (!v) return std::nullopt;
    auto f = split(*v, ' ');
    if (f.size() != 2 || f[0] == "max") return std::nullopt;
    // Whole numbers only: junk must not read as a quota of 0 or NaN cores.
    int64_t q = 0, p = 0;
    auto rq = std::from_chars(f[0].data(), f[0].data() + f[0].size(), q);
    auto rp = std::from_chars(f[1].data(), f[1].data() + f[1].size(), p);
    if (rq.ec != std::errc() || rq.ptr != f[0].data() + f[0].size() || rp.ec != std::errc() ||
        rp.ptr != f[1].data() + f[1].size() || q <= 0 || p <= 0)
      return std::nullopt;
    return static_cast<double>(q) / p;
  }
  auto q = read_int(cpu_dir_ + "/cpu.cfs_quota_us");
  auto p = read_int(cpu_dir_ + "/cpu.cfs_period_us");
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return static_cast<double>(*q) / *p;
}

std::optional<std::vector<int>> BigBox::cpuset() const {
  if (cpuset_dir_.empty()) return std::nullopt;
  auto v = read(cpuset_dir_ + (cpuset_v2_ ? "/cpuset.cpus.effective" : "/cpuset.cpus"));
  return v ? parse_cpu_list(*v) : std::nullopt;
}

std::optional<uint64_t> BigBox::memory_limit() const {
  auto v = read(mem_dir_ + (mem_v2_ ? "/memory.max" : "/memory.limit_in_bytes"));
  if (!v || *v == "max") return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  // v1 reports "unlimited" as a huge page-aligned number.
  if (ec != std::errc() || n >= (1ull << 62)) return std::nullopt;
  return n;
}

std::optional<uint64_t> BigBox::memory_usage() const {
  if (mem_dir_.empty()) return std::nullopt;
  if (!mem_usage_file_)
    mem_usage_file_ = std::make_unique<KeptFile>(
        mem_dir_ + (mem_v2_ ? "/memory.current" : "/memory.usage_in_bytes"));
  auto v = mem_usage_file_->read_int();
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

std::map<std::string, uint64_t> BigBox::ancestor_limit_hits() const {
  std::map<std::string, uint64_t> out;
  if (mem_mount_.empty() || mem_dir_.size() <= mem_mount_.size()) return out;
  std::string rel = mem_dir_.substr(mem_mount_.size());  // "/a/b/box"
  for (auto slash = rel.rfind('/'); slash != std::string::npos && slash > 0;
       slash = rel.rfind('/')) {
    rel.resize(slash);
    const std::string dir = mem_mount_ + rel;
    if (mem_v2_) {
      auto text = read_file(dir + "/memory.events");
      if (!text) continue;
      auto kv = parse_flat_keyed(*text);
      if (auto it = kv.find("max"); it != kv.end()) out[rel] = it->second;
    } else if (auto n = read_int(dir + "/memory.failcnt"); n && *n >= 0) {
      out[rel] = static_cast<uint64_t>(*n);
    }
  }
  return out;
}

std::optional<uint64_t> BigBox::cpu_throttled_ns() const {
  auto text = read_file(cpu_dir_ + "/cpu.stat");
  if (!text) return std::nullopt;
  auto kv = parse_flat_keyed(*text);
  if (auto it = kv.find(cpu_v2_ ? "throttled_usec" : "throttled_time"); it != kv.end())
    return cpu_v2_ ? it->second * 1000 : it->second;
  return std::nullopt;
}

std::optional<uint64_t> BigBox::cpu_usage_ns() const {
  if (cpu_v2_) {
    auto text = read_file(cpu_dir_ + "/cpu.stat");
    if (!text) return std::nullopt;
    auto kv = parse_flat_keyed(*text);
    auto it = kv.find("usage_usec");
    if (it == kv.end()) return std::nullopt;
    return it->second * 1000;
  }
  // v1: cpuacct may be a separate hierarchy; the cpu one has cpuacct.usage
  // only when co-mounted. Callers fall back to BPF per-class CPU time.
  auto v = read_int(cpu_dir_ + "/cpuacct.usage");
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

}  // namespace colo
