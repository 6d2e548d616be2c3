// What the observe tests share: the machine code and the publish helper of
// examples/profiling_code.hpp (the one place publish is called, so a change of
// its return type is made there), and a lazy entry.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include <jitcm/jitcm.hpp>
#include <jitcm/observe/eh_frame.hpp>

#include "profiling_code.hpp"  // examples/

namespace jitcm::testing {

using example::calling_function;

using example::publish_bytes;

/// A lazy entry for modules whose functions are all published before use.
inline std::uintptr_t unused_lazy_entry(std::uint32_t) { return 0; }
inline std::uintptr_t lazy_entry() {
  auto entry = jitcm::jump_table::lazy_trampoline(&unused_lazy_entry);
  return entry ? *entry : 0;
}

}  // namespace jitcm::testing
