#include "userspace/cgroup/pods.h"

#include <dirent.h>

#include <algorithm>

#include "userspace/util/fs.h"

namespace colo {
namespace {

bool is_hex_id(std::string_view s) {
  if (s.size() < 12 || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// A pod UID: 8-4-4-4-12 hex with dashes (systemd names carry '_' instead).
std::optional<std::string> parse_uid(std::string_view s) {
  std::string u(s);
  std::replace(u.begin(), u.end(), '_', '-');
  if (u.size() != 36) return std::nullopt;
  for (size_t i = 0; i < u.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = u[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return u;
}

struct PodDir {
  std::string uid;
  CgroupDriver driver;
};

// "pod<uid>" (cgroupfs) or "kubepods[-burstable|-besteffort]-pod<uid_>.slice" (systemd).
std::optional<PodDir> parse_pod_dir(std::string_view name) {
  if (starts_with(name, "pod")) {
    if (auto u = parse_uid(name.substr(3))) return PodDir{*u, CgroupDriver::Cgroupfs};
    return std::nullopt;
  }
  if (!starts_with(name, "kubepods-") || !ends_with(name, ".slice")) return std::nullopt;
  auto p = name.rfind("-pod");
  if (p == std::string_view::npos) return std::nullopt;
  auto uid = name.substr(p + 4, name.size() - (p + 4) - 6);
  if (auto u = parse_uid(uid)) return PodDir{*u, CgroupDriver::Systemd};
  return std::nullopt;
}

std::optional<QosClass> qos_of_dir(std::string_view name) {
  if (name == "burstable" || name == "kubepods-burstable.slice") return QosClass::Burstable;
  if (name == "besteffort" || name == "kubepods-besteffort.slice") return QosClass::BestEffort;
  return std::nullopt;
}

bool is_kubepods_root(std::string_view name) { return name == "kubepods" || name == "kubepods.slice"; }

std::vector<std::string> subdirs(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && is_dir(path + "/" + n))) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const char* qos_name(QosClass q) {
  switch (q) {
    case QosClass::Guaranteed: return "Guaranteed";
    case QosClass::Burstable: return "Burstable";
    case QosClass::BestEffort: return "BestEffort";
  }
  return "Guaranteed";
}

std::optional<QosClass> parse_qos(std::string_view s) {
  if (s == "Guaranteed") return QosClass::Guaranteed;
  if (s == "Burstable") return QosClass::Burstable;
  if (s == "BestEffort") return QosClass::BestEffort;
  return std::nullopt;
}

std::optional<ContainerName> parse_container_dir(std::string_view name) {
  struct Form {
    std::string_view prefix, suffix, runtime;
    bool conmon;
  };
  static const Form forms[] = {
      {"cri-containerd-", ".scope", "containerd", false},
      {"crio-conmon-", ".scope", "cri-o", true},
      {"crio-conmon-", "", "cri-o", true},
      {"crio-", ".scope", "cri-o", false},
      {"crio-", "", "cri-o", false},
      {"docker-", ".scope", "docker", false},
  };
  for (auto& f : forms) {
    if (!starts_with(name, f.prefix) || !ends_with(name, f.suffix)) continue;
    auto id = name.substr(f.prefix.size(), name.size() - f.prefix.size() - f.suffix.size());
    if (is_hex_id(id)) return ContainerName{std::string(id), std::string(f.runtime), f.conmon};
  }
  if (is_hex_id(name)) return ContainerName{std::string(name), "", false};
  return std::nullopt;
}

std::optional<PodRef> pod_of_path(std::string_view rel) {
  std::vector<std::string_view> parts;
  for (auto p : split(rel, '/'))
    if (!p.empty()) parts.push_back(p);
  // kubepods may sit below another cgroup (e.g. a kubelet with --cgroup-root).
  size_t root = parts.size();
  for (size_t i = 0; i < parts.size(); i++)
    if (is_kubepods_root(parts[i])) {
      root = i;
      break;
    }
  if (root == parts.size()) return std::nullopt;
  size_t i = root + 1;
  QosClass qos = QosClass::Guaranteed;
  if (i < parts.size()) {
    if (auto q = qos_of_dir(parts[i])) {
      qos = *q;
      i++;
    }
  }
  if (i >= parts.size()) return std::nullopt;
  auto pod = parse_pod_dir(parts[i]);
  if (!pod) return std::nullopt;
  PodRef r;
  r.uid = pod->uid;
  r.qos = qos;
  r.driver = pod->driver;
  for (size_t k = 0; k <= i; k++) r.pod_path += "/" + std::string(parts[k]);
  if (i + 1 < parts.size()) {
    if (auto c = parse_container_dir(parts[i + 1])) {
      r.container_id = c->id;
      r.runtime = c->runtime;
      r.conmon = c->conmon;
    }
  }
  return r;
}

std::string besteffort_path(CgroupDriver d) {
  return d == CgroupDriver::Systemd ? "/kubepods.slice/kubepods-besteffort.slice"
                                    : "/kubepods/besteffort";
}

PodTree discover_pods(const std::string& root) {
  PodTree t;
  for (const char* k : {"kubepods.slice", "kubepods"}) {
    if (is_dir(root + "/" + k)) {
      t.kubepods = std::string("/") + k;
      break;
    }
  }
  if (t.kubepods.empty()) return t;
  t.driver = t.kubepods == "/kubepods.slice" ? CgroupDriver::Systemd : CgroupDriver::Cgroupfs;
  auto scan_pods = [&](const std::string& parent_rel) {
    for (auto& name : subdirs(root + parent_rel)) {
      std::string rel = parent_rel + "/" + name;
      auto ref = pod_of_path(rel);
      if (!ref || !ref->container_id.empty()) continue;
      PodCgroup pod;
      pod.uid = ref->uid;
      pod.qos = ref->qos;
      pod.rel_path = rel;
      for (auto& c : subdirs(root + rel)) {
        auto cn = parse_container_dir(c);
        if (!cn || cn->conmon) continue;
        pod.containers.push_back({cn->id, cn->runtime, rel + "/" + c});
      }
      t.pods.push_back(std::move(pod));
    }
  };
  scan_pods(t.kubepods);
  for (auto& name : subdirs(root + t.kubepods))
    if (qos_of_dir(name)) scan_pods(t.kubepods + "/" + name);
  std::sort(t.pods.begin(), t.pods.end(),
            [](const PodCgroup& a, const PodCgroup& b) { return a.rel_path < b.rel_path; });
  return t;
}

}  // namespace colo
