// CPU topology from sysfs text: possible, online, cpuN/online,
// thread_siblings_list, core_id, physical_package_id (a fixture tree of four
// CPUs whose files hold fuzzed text), then the SMT sibling override.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "support/temp_dir.h"
#include "userspace/topology/topology.h"
#include "userspace/util/fs.h"

namespace {

using colo::test::TempDir;

const char* const kFiles[] = {"online", "topology/thread_siblings_list", "topology/core_id",
                              "topology/physical_package_id"};

struct Tree {
  TempDir sys{"colo-fuzz-sysfs"};
  std::string cpu_dir = "devices/system/cpu/";
  Tree() {
    sys.put(cpu_dir + "possible", "");
    sys.put(cpu_dir + "online", "");
    for (int c = 0; c < 4; c++)
      for (const char* f : kFiles) sys.put(cpu_dir + "cpu" + std::to_string(c) + "/" + f, "");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Tree t;
  FuzzedDataProvider in(data, size);
  auto put = [&](const std::string& rel) {
    colo::write_file(t.sys.path() + "/" + t.cpu_dir + rel, in.ConsumeRandomLengthString(64));
  };
  put("possible");
  put("online");
  for (int c = 0; c < 4; c++)
    for (const char* f : kFiles) put("cpu" + std::to_string(c) + "/" + f);
  std::string err;
  auto topo = colo::read_topology(t.sys.path(), &err);
  if (!topo) {
    FUZZ_CHECK(!err.empty());
    return 0;
  }
  for (auto& core : topo->cores) {
    FUZZ_CHECK(!core.empty() && std::is_sorted(core.begin(), core.end()));
    for (int cpu : core) {
      FUZZ_CHECK(std::binary_search(topo->online.begin(), topo->online.end(), cpu));
      FUZZ_CHECK(topo->core_of(cpu) != nullptr);
    }
  }
  (void)topo->smt();
  int a = in.ConsumeIntegralInRange<int>(-1, 8), b = in.ConsumeIntegralInRange<int>(-1, 8);
  if (colo::apply_sibling_override(*topo, {{a, b}}, &err)) {
    FUZZ_CHECK(topo->sibling_of(a) == b || topo->sibling_of(b) == a || a == b);
  }
  return 0;
}
