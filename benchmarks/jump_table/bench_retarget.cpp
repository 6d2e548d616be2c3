// Retargeting cost per slot: near slots under each W^X strategy, far slots
// (one data store), portable cells, and the naive alternative of making the
// code page writable, storing, and making it executable again.
//
//   meson setup build-bench -Dbenchmarks=true -Dtests=false -Dexamples=false
//   ninja -C build-bench benchmarks/jump_table/bench_jump_table_retarget
//   build-bench/benchmarks/jump_table/bench_jump_table_retarget
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <benchmark/benchmark.h>

#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/rwx.hpp>

#include "host_code.hpp"

namespace jt = jitcm::jump_table;

namespace {

template <class Strategy>
jitcm::testing::table_space<Strategy>* make_table(benchmark::State& state, jt::routing route) {
  auto created = jitcm::testing::table_space<Strategy>::create(1);
  if (!created || !created->initialize(0x10, route)) {
    state.SkipWithError("cannot create the table");
    return nullptr;
  }
  return new jitcm::testing::table_space<Strategy>(std::move(*created));
}

// Alternates slot 0 between two near thunks: one branch store per iteration.
template <class Strategy>
void near_slot(benchmark::State& state) {
  auto* table = make_table<Strategy>(state, jt::routing::near);
  if (table == nullptr) return;
  const std::uintptr_t targets[2] = {table->near_thunk(0, 0), table->near_thunk(0, 1)};
  unsigned n = 0;
  for (auto _ : state) {
    if (!table->patch(0, targets[++n & 1])) state.SkipWithError("patch failed");
  }
  benchmark::DoNotOptimize(jitcm::testing::call(table->call_target(0)));
  delete table;
}

// Alternates slot 0's far target: one data store, no protection change.
void far_slot(benchmark::State& state) {
  auto* table = make_table<jitcm::protection::mprotect_toggle>(state, jt::routing::far_only);
  if (table == nullptr) return;
  const std::uintptr_t targets[2] = {table->far_thunk(0), table->near_thunk(0, 0)};
  unsigned n = 0;
  for (auto _ : state) {
    if (!jt::host::patch_far(table->view(), 0, targets[++n & 1])) state.SkipWithError("patch failed");
  }
  benchmark::DoNotOptimize(jitcm::testing::call(table->call_target(0)));
  delete table;
}

void portable_slot(benchmark::State& state) {
  std::vector<std::uint64_t> cells(4);
  const auto base = reinterpret_cast<std::uintptr_t>(cells.data());
  const jt::table_view view{0, 0, base, base, 4};
  (void)jt::portable::initialize(view, 0x10);
  unsigned n = 0;
  for (auto _ : state) {
    if (!jt::portable::patch_far(view, 1, 0x1000 + (++n & 1) * 16)) state.SkipWithError("patch failed");
  }
  benchmark::DoNotOptimize(cells.data());
}

// What a table without a writable data area or dual mapping costs: a code
// page made RW, one 8-byte store, made RX again.
void mprotect_pair(benchmark::State& state) {
  const std::size_t page = jitcm::platform::page_size();
  void* memory = mmap(nullptr, page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  auto* word = static_cast<std::uint64_t*>(memory);
  std::uint64_t n = 0;
  for (auto _ : state) {
    if (mprotect(memory, page, PROT_READ | PROT_WRITE) != 0) state.SkipWithError("mprotect failed");
    std::atomic_ref<std::uint64_t>{*word}.store(++n, std::memory_order_release);
    if (mprotect(memory, page, PROT_READ | PROT_EXEC) != 0) state.SkipWithError("mprotect failed");
  }
  munmap(memory, page);
}

}  // namespace

BENCHMARK(near_slot<jitcm::protection::dual_mapping>)->Name("retarget/near/dual_mapping");
BENCHMARK(near_slot<jitcm::protection::rwx>)->Name("retarget/near/rwx");
BENCHMARK(near_slot<jitcm::protection::mprotect_toggle>)->Name("retarget/near/mprotect_toggle");
BENCHMARK(far_slot)->Name("retarget/far");
BENCHMARK(portable_slot)->Name("retarget/portable");
BENCHMARK(mprotect_pair)->Name("retarget/mprotect_rw_rx_pair");

BENCHMARK_MAIN();
