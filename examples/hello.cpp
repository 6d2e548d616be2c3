// hello: JIT a function that returns 42 and call it through its jump-table
// slot. The slot first runs the lazy-compile stub, which compiles the
// function on its first call; later calls go straight to the code.
#include <cstdio>

#include <jitcm/jitcm.hpp>

#include "machine_code.hpp"

namespace {

jitcm::code_manager::module* the_module = nullptr;

// Runs on the first call of a function without code: compile it, publish
// it (which retargets its slot), and continue the call in the new code.
std::uintptr_t compile_lazily(std::uint32_t index) {
  std::printf("lazy stub: compiling function %u\n", index);
  const example::return_constant machine_code{42};
  auto room = the_module->allocate(machine_code.size);
  if (!room) return 0;
  std::memcpy(room->data(), machine_code.bytes.data(), machine_code.size);
  auto published = the_module->publish(*room, {.index = index, .tier = jitcm::tiering::two_tier::optimized,
                                               .name = "answer"});
  if (!published) return 0;
  return (*published)->instruction_start();
}

int fail(const char* what, const std::error_code& error) {
  std::printf("%s failed: %s\n", what, error.message().c_str());
  return 1;
}

}  // namespace

int main() {
  auto lazy_entry = jitcm::jump_table::lazy_trampoline(&compile_lazily);
  if (!lazy_entry) return fail("lazy_trampoline", lazy_entry.error());

  jitcm::code_manager manager;
  auto module = manager.new_module({.functions = 1, .lazy_entry = *lazy_entry});
  if (!module) return fail("new_module", module.error());
  the_module = module->get();

  const auto slot = the_module->call_target(0);
  if (!slot) return fail("call_target", slot.error());
  const example::int_function answer = example::function_at(*slot);

  const int first = answer();   // through the lazy stub: compiles, then runs
  const int second = answer();  // straight to the code
  std::printf("first call: %d, second call: %d\n", first, second);

  const jitcm::code* found = manager.lookup((*the_module->installed(0))->instruction_start());
  std::printf("the code at the slot's target is \"%.*s\"\n", static_cast<int>(found->name().size()),
              found->name().data());
  return first == 42 && second == 42 ? 0 : 1;
}
