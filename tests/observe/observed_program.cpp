// A JIT that knows nothing of tools: it creates a manager, publishes a few
// named functions and runs them. The gdb and perf tests run it with the
// environment switches (JITCM_GDB=1, JITCM_PERF=map|jitdump) and look for the
// names in what the tools show.
//
//   observed_program answer [dual]   publishes jit_answer (returns 42) and calls it
//   observed_program spin [dual]     publishes jit_hot_loop and runs it long enough to be sampled
#include <cstdio>
#include <cstring>
#include <string_view>

#include <jitcm/jitcm.hpp>

#include "jit_code.hpp"
#include "machine_code.hpp"

namespace {

// The C++ frame gdb's backtrace must show under jit_answer.
[[gnu::noinline]] int call_jit_answer(int (*answer)()) {
  const int value = answer();
  __asm__ volatile("" ::: "memory");
  return value;
}

template <class Manager>
int run(std::string_view mode) {
  Manager manager;
  auto module = manager.new_module({.functions = 2, .lazy_entry = jitcm::testing::lazy_entry()});
  if (!module) return 2;
  const example::return_constant answer{42};
  const std::vector<std::byte> loop = example::counting_loop(28);  // a few hundred ms of samples
  const jitcm::source_position positions[] = {{0, 1}, {5, 2}};
  if (jitcm::testing::publish_bytes(**module, answer.bytes, {.index = 0, .name = "jit_answer"}) == nullptr) return 3;
  if (jitcm::testing::publish_bytes(**module, loop,
                                    {.index = 1, .name = "jit_hot_loop", .source_positions = positions}) == nullptr) {
    return 3;
  }
  auto slot = (*module)->call_target(0);
  if (!slot) return 4;
  if (mode == "answer") {
    const int value = call_jit_answer(example::function_at(*slot));
    std::printf("jit_answer returned %d\n", value);
    return value == 42 ? 0 : 1;
  }
  auto loop_slot = (*module)->call_target(1);
  if (!loop_slot) return 4;
  for (int i = 0; i < 4; ++i) example::function_at (*loop_slot)();
  std::printf("jit_hot_loop ran\n");
  return 0;
}

using dual_mapped_manager =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::dual_mapping>>;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s answer|spin [dual]\n", argv[0]);
    return 2;
  }
  const bool dual = argc > 2 && std::string_view{argv[2]} == "dual";
  return dual ? run<dual_mapped_manager>(argv[1]) : run<jitcm::code_manager>(argv[1]);
}
