// profiling: JIT code that perf, gdb and the C++ unwinder can see.
//
// Publishes three functions with names (one with source lines, one with
// unwind info) and attaches the four tool integrations of jitcm::observe:
// a perf map, a jitdump, GDB's JIT interface and unwind registration (plus
// the in-process symbolizer). Then it runs them, catches a C++ exception
// thrown through JIT code, and prints how to look at the result.
//
// Any program gets the first three without a code change through the
// environment: JITCM_PERF=map, JITCM_PERF=jitdump, JITCM_GDB=1.
#include <cstdio>
#include <stdexcept>
#include <string>

#include <jitcm/jitcm.hpp>

#include "machine_code.hpp"
#include "profiling_code.hpp"

namespace {

// The "source" the JIT compiled: source offsets in code are line numbers here.
constexpr const char* source_file = "count_down.mini";

jitcm::observe::source_line line_of(void*, const jitcm::code&, std::uint32_t line) noexcept {
  return {source_file, static_cast<std::int32_t>(line)};
}

[[noreturn]] void fail_from_cpp() { throw std::runtime_error{"thrown by C++ called from JIT code"}; }

int fail(const char* what, const std::error_code& error) {
  std::printf("%s failed: %s\n", what, error.message().c_str());
  return 1;
}

std::uintptr_t no_lazy_compile(std::uint32_t) { return 0; }

}  // namespace

int main() {
  auto perf_map = jitcm::observe::perf_map::open();
  if (!perf_map) return fail("perf_map::open", perf_map.error());
  auto jitdump = jitcm::observe::jitdump::open({.lines = {&line_of, nullptr}});
  if (!jitdump) return fail("jitdump::open", jitdump.error());
  jitcm::observe::gdb_jit gdb;
  jitcm::observe::unwind_registry unwinding;
  jitcm::observe::symbolizer symbols;

  auto lazy_entry = jitcm::jump_table::lazy_trampoline(&no_lazy_compile);
  if (!lazy_entry) return fail("lazy_trampoline", lazy_entry.error());
  jitcm::code_manager manager;
  for (jitcm::code_observer* observer :
       std::initializer_list<jitcm::code_observer*>{perf_map->get(), jitdump->get(), &gdb, &unwinding, &symbols}) {
    manager.add_observer(*observer);
  }
  {
    auto module = manager.new_module({.functions = 3, .lazy_entry = *lazy_entry});
    if (!module) return fail("new_module", module.error());

    const std::vector<std::byte> loop = example::counting_loop(26);
    const jitcm::source_position lines[] = {{0, 1}, {5, 2}};  // setup on line 1, the loop on line 2
    const example::return_constant answer{42};
    const example::calling_function caller{&fail_from_cpp};
    const std::vector<std::byte> unwind = caller.unwind_info();
    using example::publish_bytes;
    const jitcm::code* count_down =
        publish_bytes(**module, loop, {.index = 0, .name = "count_down", .source_positions = lines});
    const jitcm::code* answer_code = publish_bytes(**module, answer.bytes, {.index = 1, .name = "answer"});
    const jitcm::code* call_cpp =
        publish_bytes(**module, caller.bytes, {.index = 2, .name = "call_cpp", .unwind_info = unwind});
    if (count_down == nullptr || answer_code == nullptr || call_cpp == nullptr) return 1;

    const auto slot = [&](std::uint32_t index) { return *(*module)->call_target(index); };
    reinterpret_cast<void (*)()>(slot(0))();
    const int value = example::function_at(slot(1))();
    std::string caught;
    try {
      reinterpret_cast<void (*)()>(slot(2))();
    } catch (const std::runtime_error& error) {
      caught = error.what();
    }
    std::printf("count_down ran; answer returned %d; caught \"%s\"\n", value, caught.c_str());

    for (std::uintptr_t pc : {count_down->instruction_start() + 5, slot(1)}) {
      if (auto s = symbols.symbolize(manager, pc)) std::printf("pc %#zx is %s+%zu\n", pc, s->name.c_str(), s->offset);
    }
    std::printf("unwind info registered for %zu function(s); %zu GDB entries\n", unwinding.registered(), gdb.entries());
    if (value != 42 || caught.empty()) return 1;
  }
  for (jitcm::code_observer* observer :
       std::initializer_list<jitcm::code_observer*>{perf_map->get(), jitdump->get(), &gdb, &unwinding, &symbols}) {
    manager.remove_observer(*observer);
  }

  std::printf("\nwrote %s and %s. To look at the code with the tools:\n", (*perf_map)->path().c_str(),
              (*jitdump)->path().c_str());
  std::printf("  perf record -e cpu-clock ./profiling && perf report                 # names from the perf map\n");
  std::printf(
      "  perf record -k 1 -e cpu-clock ./profiling && perf inject --jit -i perf.data -o perf.jit.data \\\n"
      "    && perf report -i perf.jit.data                                    # names, bytes, lines from the "
      "jitdump\n");
  std::printf("  gdb -ex 'set breakpoint pending on' -ex 'break answer' -ex run -ex bt ./profiling\n");
  return 0;
}
