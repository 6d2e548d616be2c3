// explicit_instantiation: a JIT whose TUs share one compiled manager type.
// This TU creates a manager and a module, publishes two tiers of one
// function and calls it through its slot, like hello and tier_up; the
// members and functions it calls were compiled in code_manager.cpp.
#include <cstdio>
#include <cstring>

#include "../machine_code.hpp"
#include "code_manager.hpp"

namespace {

// Publishes `int f() { return value; }` for function 0 at `tier`.
bool publish_constant(example::manager_type::module& module, std::uint32_t value, jitcm::tier tier) {
  const example::return_constant machine_code{value};
  auto room = module.allocate(machine_code.size);
  if (!room) return false;
  std::memcpy(room->writable(), machine_code.bytes.data(), machine_code.size);
  return module.publish(*room, {.index = 0, .tier = tier}).has_value();
}

}  // namespace

int main() {
  example::manager_type manager;
  auto module = manager.new_module({.functions = 1, .lazy_entry = 1});
  if (!module) return 1;
  jitcm::refcount::code_ref_scope scope;
  const example::int_function f = example::function_at(*(*module)->call_target(0));
  if (!publish_constant(**module, 7, jitcm::tiering::two_tier::baseline)) return 2;
  const int baseline = f();
  if (!publish_constant(**module, 42, jitcm::tiering::two_tier::optimized)) return 3;
  const int optimized = f();
  std::printf("baseline: %d, optimized: %d\n", baseline, optimized);
  return baseline == 7 && optimized == 42 ? 0 : 4;
}
