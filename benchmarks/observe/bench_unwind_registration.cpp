// Cost of registering and deregistering unwind info for many JIT functions
// with the C++ runtime's unwinder: jitcm's unwind_registry (as a module's
// publishes and teardown drive it: batches of 1 function, or of 1000 as one
// add_code call makes) against the bare __register_frame /
// __deregister_frame calls a JIT makes without it, one section per
// function, deregistered newest first (what libgcc's list finds fastest) or
// oldest first. The _after_throw variants throw once between registering
// and deregistering: libgcc (before GCC 13) then sorts its list, which costs
// quadratic time in the number of sections.
//
// Arguments: functions/batch size (bare calls: functions).
//
//   build-bench/benchmarks/observe/bench_unwind_registration
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <vector>

#include <jitcm/base/code.hpp>
#include <jitcm/observe/eh_frame.hpp>
#include <jitcm/observe/unwind_registry.hpp>

namespace {

constexpr std::size_t function_size = 64;
constexpr std::uintptr_t first_address = 0x100000000000;  // nothing runs there; nothing unwinds there

/// `count` code objects with a leaf FDE each, at ascending addresses.
std::vector<std::unique_ptr<jitcm::code>> make_functions(std::size_t count) {
  const auto unwind =
      jitcm::observe::eh_frame::build(jitcm::observe::eh_frame::host, jitcm::observe::eh_frame::leaf(function_size));
  std::vector<std::unique_ptr<jitcm::code>> functions;
  functions.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto c = jitcm::code::create({.instructions = {first_address + i * function_size, function_size},
                                  .index = static_cast<std::uint32_t>(i),
                                  .unwind_info = *unwind});
    functions.push_back(std::move(*c));
  }
  return functions;
}

/// Registered sections the bare calls use (rebased, terminated), one per function.
std::vector<std::vector<std::byte>> make_sections(const std::vector<std::unique_ptr<jitcm::code>>& functions) {
  std::vector<std::vector<std::byte>> sections;
  for (const auto& c : functions)
    sections.push_back(*jitcm::observe::eh_frame::rebase(c->unwind_info(), c->instruction_start()));
  return sections;
}

/// Makes libgcc look for an FDE, which sorts every registered section.
void throw_and_catch() {
  try {
    throw std::runtime_error{"sort the registered frames"};
  } catch (const std::runtime_error&) {
  }
}

enum class order { newest_first, oldest_first };

void jitcm_registry(benchmark::State& state, bool throw_between) {
  const auto functions = make_functions(static_cast<std::size_t>(state.range(0)));
  const auto batch = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    jitcm::observe::unwind_registry registry;
    for (std::size_t i = 0; i < functions.size(); ++i) {
      registry.on_code_added(*functions[i]);
      if ((i + 1) % batch == 0) registry.on_batch_end();
    }
    registry.on_batch_end();
    if (throw_between) throw_and_catch();
    // A module's teardown frees its code in descending address order.
    for (auto c = functions.rbegin(); c != functions.rend(); ++c) registry.on_code_freed(**c);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void bare_calls(benchmark::State& state, order deregistration, bool throw_between) {
  const auto functions = make_functions(static_cast<std::size_t>(state.range(0)));
  const auto sections = make_sections(functions);
  for (auto _ : state) {
    for (const auto& s : sections) __register_frame(s.data());
    if (throw_between) throw_and_catch();
    if (deregistration == order::newest_first) {
      for (auto s = sections.rbegin(); s != sections.rend(); ++s) __deregister_frame(s->data());
    } else {
      for (const auto& s : sections) __deregister_frame(s.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_jitcm_registry(benchmark::State& state) { jitcm_registry(state, false); }
void BM_jitcm_registry_after_throw(benchmark::State& state) { jitcm_registry(state, true); }
void BM_bare_newest_first(benchmark::State& state) { bare_calls(state, order::newest_first, false); }
void BM_bare_oldest_first(benchmark::State& state) { bare_calls(state, order::oldest_first, false); }
void BM_bare_newest_first_after_throw(benchmark::State& state) { bare_calls(state, order::newest_first, true); }
void BM_bare_oldest_first_after_throw(benchmark::State& state) { bare_calls(state, order::oldest_first, true); }

}  // namespace

BENCHMARK(BM_jitcm_registry)->Args({5000, 1})->Args({40000, 1})->Args({40000, 1000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_jitcm_registry_after_throw)->Args({5000, 1})->Args({40000, 1000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_jitcm_registry_after_throw)->Args({40000, 1})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_bare_newest_first)->Arg(5000)->Arg(40000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bare_newest_first_after_throw)->Arg(5000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bare_newest_first_after_throw)->Arg(40000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_bare_oldest_first)->Arg(5000)->Arg(40000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_bare_oldest_first_after_throw)->Arg(5000)->Arg(40000)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
