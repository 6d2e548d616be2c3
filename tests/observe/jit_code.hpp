// What the observe tests share: the machine code of examples/profiling_code.hpp,
// and the one place the tests publish code (so a change of publish's return
// type is made here).
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

namespace observe_test {

using example::calling_function;

/// Publishes `bytes` into `module` as described by `desc` (allocate, copy,
/// publish). nullptr on any failure.
template <class Module>
const jitcm::code* publish_bytes(Module& module, std::span<const std::byte> bytes, const jitcm::code_desc& desc) {
  auto room = module.allocate(bytes.size());
  if (!room) return nullptr;
  std::memcpy(room->data(), bytes.data(), bytes.size());
  jitcm::code_desc sized = desc;
  sized.instructions = {0, bytes.size()};
  auto published = module.publish(*room, sized);
  return published ? *published : nullptr;
}

/// A lazy entry for modules whose functions are all published before use.
inline std::uintptr_t unused_lazy_entry(std::uint32_t) { return 0; }
inline std::uintptr_t lazy_entry() {
  auto entry = jitcm::jump_table::lazy_trampoline(&unused_lazy_entry);
  return entry ? *entry : 0;
}

}  // namespace observe_test
