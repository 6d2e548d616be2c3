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

#include "../base/config.hpp"

namespace jitcm::detail {
class code_observer_list;
}  // namespace jitcm::detail

namespace jitcm::observe {

/// What the environment asked for.
struct environment_switches {
  bool perf_map = false;
  bool jitdump = false;
  bool gdb = false;
};

/// Parses the switches' values (nullptr: unset).
[[nodiscard]] JITCM_DECL environment_switches parse_environment(const char* perf, const char* gdb) noexcept;

/// Attaches the observers the environment asks for to `observers` (a
/// manager's list); reads the environment on the first call. Declared
/// here without the writers, so that a manager reaches the switches
/// without compiling perf_map, jitdump and gdb_jit in every TU under
/// separate compilation.
JITCM_DECL void attach_from_environment(jitcm::detail::code_observer_list& observers);

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/environment.ipp"  // IWYU pragma: export
#endif
