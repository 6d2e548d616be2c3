// The environment switches that make any jitcm program visible to its tools
// without a change to the program:
//
// | variable            | effect |
// |---------------------|--------|
// | `JITCM_PERF=map`    | every manager's code goes to /tmp/perf-<pid>.map (observe::perf_map) |
// | `JITCM_PERF=jitdump`| ... to $JITDUMPDIR (or /tmp)/jit-<pid>.dump (observe::jitdump), for `perf inject --jit` |
// | `JITCM_GDB=1`       | ... to GDB through its JIT interface (observe::gdb_jit) |
//
// The variables are read once, when the first manager of the process is
// created; the observers they create live until the process ends and are
// attached to every manager. A file that cannot be opened is reported once
// on stderr and left out (the program runs on).
//
//   JITCM_PERF=map perf record -e cpu-clock ./my_jit && perf report
//   JITCM_GDB=1 gdb -ex 'set breakpoint pending on' -ex 'break my_function' -ex run ./my_jit
//
// Thread safety: attach_from_environment may be called from any thread.
#pragma once

#include <cstdio>
#include <cstring>
#include <memory>

#include "../code_observer.hpp"
#include "../platform/tool_files.hpp"
#include "gdb_jit.hpp"
#include "jitdump.hpp"
#include "perf_map.hpp"

namespace jitcm::observe {

/// What the environment asked for.
struct environment_switches {
  bool perf_map = false;
  bool jitdump = false;
  bool gdb = false;
};

/// Parses the switches' values (nullptr: unset).
[[nodiscard]] inline environment_switches parse_environment(const char* perf, const char* gdb) noexcept {
  environment_switches s;
  if (perf != nullptr) {
    s.perf_map = std::strcmp(perf, "map") == 0;
    s.jitdump = std::strcmp(perf, "jitdump") == 0;
  }
  s.gdb = gdb != nullptr && std::strcmp(gdb, "1") == 0;
  return s;
}

namespace detail {

/// The process's observers made from the environment. Never destroyed:
/// managers in static storage may still publish while others are torn down.
struct environment_observers {
  std::unique_ptr<perf_map> map;
  std::unique_ptr<jitdump> dump;
  std::unique_ptr<gdb_jit> gdb;

  static environment_observers* create() {
    const environment_switches s = parse_environment(platform::environment_variable("JITCM_PERF"),
                                                     platform::environment_variable("JITCM_GDB"));
    auto* made = new environment_observers;
    if (s.perf_map) {
      if (auto opened = perf_map::open()) made->map = std::move(*opened);
      else std::fprintf(stderr, "jitcm: JITCM_PERF=map: %s\n", opened.error().message().c_str());
    }
    if (s.jitdump) {
      if (auto opened = jitdump::open()) made->dump = std::move(*opened);
      else std::fprintf(stderr, "jitcm: JITCM_PERF=jitdump: %s\n", opened.error().message().c_str());
    }
    if (s.gdb) made->gdb = std::make_unique<gdb_jit>();
    return made;
  }
};

}  // namespace detail

/// Attaches the observers the environment asks for to `observers` (a
/// manager's list); reads the environment on the first call.
inline void attach_from_environment(jitcm::detail::code_observer_list& observers) {
  static detail::environment_observers* const from_environment = detail::environment_observers::create();
  if (from_environment->map) observers.add(*from_environment->map);
  if (from_environment->dump) observers.add(*from_environment->dump);
  if (from_environment->gdb) observers.add(*from_environment->gdb);
}

}  // namespace jitcm::observe
