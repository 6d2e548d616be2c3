// The TU of the JIT that writes code: compiled without jitcm's non-template
// definitions (JITCM_SEPARATE_COMPILATION); definitions.cpp has them.
#include <cstring>

#include "../../../examples/machine_code.hpp"
#include "jit.hpp"

namespace separate_test {

bool publish_constant(module_type& module, std::uint32_t index, std::uint32_t value, jitcm::tier tier) {
  const example::return_constant bytes{value};
  auto room = module.allocate(bytes.size);
  if (!room) return false;
  std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
  return module.publish(*room, {.index = index, .tier = tier}).has_value();
}

int call(const module_type& module, std::uint32_t index) {
  auto slot = module.call_target(index);
  return slot ? example::function_at(*slot)() : -1;
}

}  // namespace separate_test
