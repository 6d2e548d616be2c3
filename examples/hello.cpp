// hello: JIT a function that returns 42 and call it through its jump-table
// slot. The slot first runs the module's lazy-compile entry, which compiles
// the function on its first call; later calls go straight to the code.
#include <cstdio>
#include <cstring>

#include <jitcm/jitcm.hpp>

#include "machine_code.hpp"

namespace {

using manager_type = jitcm::code_manager;

/// The JIT's state for one module: what the lazy-compile callback gets as
/// its context (several modules, or several libraries with modules of their
/// own, each get their own callback and context).
struct jit {
  manager_type::module* module = nullptr;
  int compilations = 0;
};

// Runs on the first call of a function without code, on the calling thread
// (several threads may arrive at once for one index): compile it, publish it
// (which retargets its slot), and continue the call through the slot. The
// slot is the address to return, not the new code: if another thread
// published first, tiering may keep its code and retire this one, which may
// then be freed at once; the slot always leads to installed code.
std::uintptr_t compile_lazily(void* context, std::uint32_t index) noexcept {
  jit& state = *static_cast<jit*>(context);
  std::printf("lazy entry: compiling function %u\n", index);
  ++state.compilations;
  const example::return_constant machine_code{42};
  auto room = state.module->allocate(machine_code.size);
  if (!room) return reinterpret_cast<std::uintptr_t>(+[]() -> int { return -1; });  // report failure to the caller
  std::memcpy(room->writable(), machine_code.bytes.data(), machine_code.size);
  auto published =
      state.module->publish(*room, {.index = index, .tier = jitcm::tiering::two_tier::optimized, .name = "answer"});
  if (!published) return reinterpret_cast<std::uintptr_t>(+[]() -> int { return -1; });
  return *state.module->call_target(index);
}

int fail(const char* what, const std::error_code& error) {
  std::printf("%s failed: %s\n", what, error.message().c_str());
  return 1;
}

}  // namespace

int main() {
  manager_type manager;
  jit state;
  auto module = manager.new_module({.functions = 1, .lazy = {&compile_lazily, &state}});
  if (!module) return fail("new_module", module.error());
  state.module = module->get();

  const auto slot = state.module->call_target(0);
  if (!slot) return fail("call_target", slot.error());
  const example::int_function answer = example::function_at(*slot);

  const int first = answer();   // through the lazy entry: compiles, then runs
  const int second = answer();  // straight to the code
  std::printf("first call: %d, second call: %d\n", first, second);

  // Code pointers the manager hands out are held by a scope: valid until it ends.
  manager_type::code_ref_scope scope;
  const jitcm::code* installed = *state.module->installed(0);
  const jitcm::code* found = manager.lookup(installed->instruction_start(), scope);
  std::printf("the code at the slot's target is \"%.*s\"\n", static_cast<int>(found->name().size()),
              found->name().data());
  return first == 42 && second == 42 && state.compilations == 1 ? 0 : 1;
}
