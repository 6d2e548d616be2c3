// What keeping code alive costs a thread: open a scope, hold N code objects
// in it, end it (V8's WasmCodeRefScope pattern around a stack walk), for each
// ref-counting policy; and what retiring and collecting 1000 code objects
// costs the module.
#include <benchmark/benchmark.h>

#include <jitcm/refcount/atomic_counts.hpp>
#include <jitcm/refcount/never.hpp>
#include <jitcm/refcount/scoped.hpp>

#include <memory>
#include <span>
#include <vector>

namespace {

std::vector<std::unique_ptr<jitcm::code>> make_codes(std::size_t count) {
  std::vector<std::unique_ptr<jitcm::code>> codes;
  for (std::size_t i = 0; i < count; ++i) {
    jitcm::code_desc desc;
    desc.instructions = {0x1000'0000 + i * 64, 64};
    desc.index = static_cast<std::uint32_t>(i);
    codes.push_back(std::move(*jitcm::code::create(desc)));
  }
  return codes;
}

template <class Policy>
void scope_hold(benchmark::State& state) {
  const auto codes = make_codes(static_cast<std::size_t>(state.range(0)));
  Policy policy{jitcm::refcount::free_callback{}};
  for (auto _ : state) {
    [[maybe_unused]] typename Policy::scope scope;
    for (const auto& c : codes) benchmark::DoNotOptimize(policy.hold(*c));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class Policy>
void retire_and_collect(benchmark::State& state) {
  const std::size_t count = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto codes = make_codes(count);
    std::size_t released = 0;
    Policy policy{jitcm::refcount::free_callback{
        [](void* counter, const jitcm::code&) noexcept { ++*static_cast<std::size_t*>(counter); }, &released}};
    state.ResumeTiming();
    for (const auto& c : codes) policy.retire(*c);
    benchmark::DoNotOptimize(policy.collect(std::span<const jitcm::code* const>{}));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK_TEMPLATE(scope_hold, jitcm::refcount::scoped)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK_TEMPLATE(scope_hold, jitcm::refcount::atomic_counts)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK_TEMPLATE(scope_hold, jitcm::refcount::never)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK_TEMPLATE(retire_and_collect, jitcm::refcount::scoped)->Arg(1000);
BENCHMARK_TEMPLATE(retire_and_collect, jitcm::refcount::atomic_counts)->Arg(1000);

BENCHMARK_MAIN();
