// Definitions of <jitcm/observe/environment.hpp>: inline there by default,
// compiled once by <jitcm/separate_compilation.hpp> under separate compilation.
#pragma once

#include <cstdio>
#include <cstring>
#include <memory>

#include "../../code_observer.hpp"
#include "../../platform/tool_files.hpp"
#include "../environment.hpp"
#include "../gdb_jit.hpp"
#include "../jitdump.hpp"
#include "../perf_map.hpp"

namespace jitcm::observe {

JITCM_DECL environment_switches parse_environment(const char* perf, const char* gdb) noexcept {
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
    const environment_switches s =
        parse_environment(platform::environment_variable("JITCM_PERF"), platform::environment_variable("JITCM_GDB"));
    auto* made = new environment_observers;
    if (s.perf_map) {
      if (auto opened = perf_map::open())
        made->map = std::move(*opened);
      else
        std::fprintf(stderr, "jitcm: JITCM_PERF=map: %s\n", opened.error().message().c_str());
    }
    if (s.jitdump) {
      if (auto opened = jitdump::open())
        made->dump = std::move(*opened);
      else
        std::fprintf(stderr, "jitcm: JITCM_PERF=jitdump: %s\n", opened.error().message().c_str());
    }
    if (s.gdb) made->gdb = std::make_unique<gdb_jit>();
    return made;
  }
};

}  // namespace detail

JITCM_DECL void attach_from_environment(jitcm::detail::code_observer_list& observers) {
  static detail::environment_observers* const from_environment = detail::environment_observers::create();
  if (from_environment->map) observers.add(*from_environment->map);
  if (from_environment->dump) observers.add(*from_environment->dump);
  if (from_environment->gdb) observers.add(*from_environment->gdb);
}

}  // namespace jitcm::observe
