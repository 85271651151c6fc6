#include "userspace/cgroup/layout.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "userspace/util/fs.h"

namespace colo {
namespace {

// v1 controllers a kernel may have. Used when /proc/cgroups is unavailable and to
// tell controller directories from named hierarchies in fixture trees.
const std::set<std::string, std::less<>> kV1Controllers = {
    "blkio", "cpu",    "cpuacct", "cpuset",   "devices", "freezer", "hugetlb", "memory",
    "misc",  "net_cls", "net_prio", "perf_event", "pids", "rdma",    "debug"};

void set_err(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
}

std::string normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool at_or_below(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path.compare(0, root.size(), root) == 0 &&
         (path.size() == root.size() || path[root.size()] == '/');
}

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string unescape(std::string_view s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) &&
        octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
                                      (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Fields separated by runs of blanks: tabs in /proc/cgroups, spaces in mountinfo.
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  constexpr std::string_view kBlank = " \t\r\n";
  for (size_t pos = s.find_first_not_of(kBlank); pos != std::string_view::npos;) {
    size_t end = std::min(s.find_first_of(kBlank, pos), s.size());
    out.emplace_back(s.substr(pos, end - pos));
    pos = s.find_first_not_of(kBlank, end);
  }
  return out;
}

std::vector<std::string> v2_controllers(const std::string& mount) {
  auto text = read_line(join_path(mount, "cgroup.controllers"));
  return text ? words(*text) : std::vector<std::string>{};
}

}  // namespace

std::optional<CgroupLayout> CgroupLayout::discover(const std::string& root, std::string* err) {
  int e = 0;
  auto mountinfo = read_file("/proc/self/mountinfo", &e);
  if (!mountinfo) {
    set_err(err, "cannot read /proc/self/mountinfo: errno " + std::to_string(e));
    return std::nullopt;
  }
  // Without /proc/cgroups, v1 ids stay 0 and controllers come from kV1Controllers.
  auto proc_cgroups = read_file("/proc/cgroups");
  return from_texts(root, *mountinfo, proc_cgroups.value_or(""), err);
}

std::optional<CgroupLayout> CgroupLayout::from_texts(const std::string& root,
                                                     const std::string& mountinfo,
                                                     const std::string& proc_cgroups,
                                                     std::string* err) {
  std::map<std::string, uint32_t, std::less<>> hierarchy_of;  // controller -> v1 hierarchy id
  for (std::string_view line : split(proc_cgroups, '\n')) {
    auto f = words(line);
    if (f.size() < 2 || f[0][0] == '#') continue;
    uint32_t id = 0;
    auto [ptr, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), id);
    if (ec == std::errc() && ptr == f[1].data() + f[1].size()) hierarchy_of[f[0]] = id;
  }

  CgroupLayout layout;
  layout.root_ = normalize(root);
  struct Mount {
    std::string dev;  // "maj:min": one per hierarchy, however often it is mounted
    bool whole;       // the mount shows the hierarchy from its root
  };
  std::vector<Mount> seen;  // parallel to hierarchies_
  for (std::string_view line : split(mountinfo, '\n')) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    auto f = words(line);
    auto sep = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
    if (f.size() < 6 || f.end() - sep < 4) continue;
    const std::string& fstype = sep[1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    Hierarchy h;
    h.mount = normalize(unescape(f[4]));
    if (!at_or_below(h.mount, layout.root_)) continue;
    h.v2 = fstype == "cgroup2";
    if (h.v2) {
      h.controllers = v2_controllers(h.mount);
    } else {
      std::vector<std::string> names;
      for (std::string_view opt : split(sep[3], ',')) {
        bool known = hierarchy_of.empty() ? kV1Controllers.count(opt) > 0
                                          : hierarchy_of.count(opt) > 0;
        if (known) h.controllers.emplace_back(opt);
        if (opt.substr(0, 5) == "name=") names.emplace_back(opt);
      }
      if (!h.controllers.empty()) {
        auto it = hierarchy_of.find(h.controllers[0]);
        if (it != hierarchy_of.end()) h.id = it->second;
      }
      h.controllers.insert(h.controllers.end(), names.begin(), names.end());
    }
    // A later mount on the same mountpoint hides the earlier one.
    auto& hs = layout.hierarchies_;
    for (size_t i = 0; i < hs.size(); i++) {
      if (hs[i].mount != h.mount) continue;
      hs.erase(hs.begin() + i);
      seen.erase(seen.begin() + i);
      break;
    }
    // The same hierarchy (same device) mounted twice below root, as when a container
    // sees its own cgroups and the host's: keep the mount that shows all of it.
    Mount m{f[2], f[3] == "/"};
    size_t dup = std::find_if(seen.begin(), seen.end(), [&](auto& o) { return o.dev == m.dev; }) -
                 seen.begin();
    if (dup < seen.size()) {
      if (seen[dup].whole || !m.whole) continue;
      hs[dup] = std::move(h);
      seen[dup] = m;
      continue;
    }
    hs.push_back(std::move(h));
    seen.push_back(m);
  }
  if (layout.hierarchies_.empty()) {
    set_err(err, "no cgroup hierarchy mounted at or below " + layout.root_);
    return std::nullopt;
  }
  return layout;
}

std::optional<CgroupLayout> CgroupLayout::from_tree(const std::string& root, std::string* err) {
  CgroupLayout layout;
  layout.root_ = normalize(root);
  if (!is_dir(layout.root_)) {
    set_err(err, layout.root_ + " is not a directory");
    return std::nullopt;
  }
  if (path_exists(join_path(layout.root_, "cgroup.controllers"))) {
    layout.hierarchies_.push_back({layout.root_, true, 0, v2_controllers(layout.root_)});
    return layout;
  }
  std::vector<std::string> names;
  if (DIR* dir = opendir(layout.root_.c_str())) {
    while (struct dirent* de = readdir(dir)) {
      std::string name = de->d_name;
      struct stat st;
      // Symlinks ("cpu" -> "cpu,cpuacct") would list a hierarchy twice.
      if (name == "." || name == ".." ||
          lstat(join_path(layout.root_, name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        continue;
      names.push_back(name);
    }
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  uint32_t next_id = 1;
  for (const auto& name : names) {
    Hierarchy h;
    h.mount = join_path(layout.root_, name);
    if (path_exists(join_path(h.mount, "cgroup.controllers"))) {
      h.v2 = true;
      h.controllers = v2_controllers(h.mount);
    } else {
      h.id = next_id++;
      for (std::string_view c : split(name, ','))
        if (kV1Controllers.count(c)) h.controllers.emplace_back(c);
      // A directory not named after controllers is a named hierarchy (systemd's).
      if (h.controllers.empty()) h.controllers.push_back("name=" + name);
    }
    layout.hierarchies_.push_back(std::move(h));
  }
  if (layout.hierarchies_.empty()) {
    set_err(err, "no cgroup hierarchy found in " + layout.root_);
    return std::nullopt;
  }
  return layout;
}

const Hierarchy* CgroupLayout::for_controller(const std::string& controller) const {
  const Hierarchy* v2 = nullptr;
  for (const auto& h : hierarchies_) {
    bool has = std::find(h.controllers.begin(), h.controllers.end(), controller) !=
               h.controllers.end();
    if (!has) continue;
    if (!h.v2) return &h;  // v1 wins: a controller bound to v1 is unusable on v2
    if (!v2) v2 = &h;
  }
  return v2;
}

const Hierarchy* CgroupLayout::unified() const {
  for (const auto& h : hierarchies_)
    if (h.v2) return &h;
  return nullptr;
}

bool CgroupLayout::pure_v2() const {
  // Named v1 hierarchies (name=systemd for old containers) hold no controller and
  // don't make a host hybrid.
  for (const auto& h : hierarchies_) {
    if (h.v2) continue;
    for (const auto& c : h.controllers)
      if (c.rfind("name=", 0) != 0) return false;
  }
  return unified() != nullptr;
}

std::optional<std::string> path_in(const std::vector<ProcCgroupEntry>& entries, const Hierarchy& h) {
  for (const auto& e : entries) {
    if (h.v2 ? (e.hierarchy == 0 && e.controllers.empty()) : (e.hierarchy == h.id && h.id != 0))
      return e.path;
  }
  return std::nullopt;
}

}  // namespace colo
