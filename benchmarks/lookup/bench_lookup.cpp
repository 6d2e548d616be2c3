// Program-counter lookup: jitcm's lookup policies against V8's design, a
// std::map keyed by start address under a mutex (population.hpp), and the
// segment map against the same two-level structure with no synchronisation.
//
// Workloads, over 1k, 100k and 1M code objects (population.hpp):
// - random_pcs:  pcs drawn uniformly from all code (a sampling profiler);
// - hot_pcs:     64 return addresses in 16 functions, over and over (stack
//                walks of a hot loop: what a hashed cache in front is for);
// - random_pcs/real_time/threads:1 and :2 — the same on one and on two
//                threads at once, both in wall-clock time: the ratio of their
//                items_per_second is the two-thread speed-up (contention);
// - erase_insert: one code erased and inserted again per iteration while
//                another thread looks up random pcs (none for the
//                unsynchronised structure, which allows no concurrent reader).
#include <benchmark/benchmark.h>

#include <jitcm/lookup/cached.hpp>
#include <jitcm/lookup/lock_free_array.hpp>
#include <jitcm/lookup/segment_map.hpp>
#include <jitcm/lookup/sorted_map.hpp>

#include <atomic>
#include <cstddef>
#include <thread>
#include <type_traits>

#include "population.hpp"

namespace {

using jitcm::lookup::cached;
using jitcm::lookup::lock_free_array;
using jitcm::lookup::segment_map;
using jitcm::lookup::sorted_map;
using jitcm_bench::map_under_mutex;
using unsynchronised_segment_map = jitcm::lookup::detail::basic_segment_map<false>;

template <class Lookup>
constexpr bool allows_concurrent_readers = !std::is_same_v<Lookup, unsynchronised_segment_map>;

template <class Lookup>
void find_pcs(benchmark::State& state, bool hot) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const Lookup& lookup = jitcm_bench::populated<Lookup>(count);
  const auto& codes = jitcm_bench::population(count);
  const auto& pcs = hot ? codes.hot_pcs : codes.random_pcs;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lookup.find(pcs[i++ & (codes.pc_count - 1)]));
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Lookup>
void random_pcs(benchmark::State& state) {
  find_pcs<Lookup>(state, false);
}
template <class Lookup>
void hot_pcs(benchmark::State& state) {
  find_pcs<Lookup>(state, true);
}

template <class Lookup>
void erase_insert(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  Lookup& lookup = jitcm_bench::populated<Lookup>(count);
  const auto& codes = jitcm_bench::population(count);
  std::atomic<bool> stop{false};
  std::thread reader;
  if constexpr (allows_concurrent_readers<Lookup>) {
    reader = std::thread([&] {
      for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        benchmark::DoNotOptimize(lookup.find(codes.random_pcs[i & (codes.pc_count - 1)]));
      }
    });
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const jitcm::code* c = codes.codes[(i++ * 7919) % count].get();
    benchmark::DoNotOptimize(lookup.erase(c));
    benchmark::DoNotOptimize(lookup.insert(c));
  }
  stop.store(true);
  if (reader.joinable()) reader.join();
  state.SetItemsProcessed(state.iterations());
}

#define JITCM_LOOKUP_BENCHMARKS(...)                                                                             \
  BENCHMARK_TEMPLATE(random_pcs, __VA_ARGS__)->Arg(1000)->Arg(100000)->Arg(1000000);                             \
  BENCHMARK_TEMPLATE(hot_pcs, __VA_ARGS__)->Arg(100000)->Arg(1000000);                                           \
  BENCHMARK_TEMPLATE(random_pcs, __VA_ARGS__)->Arg(100000)->Arg(1000000)->Threads(1)->Threads(2)->UseRealTime(); \
  BENCHMARK_TEMPLATE(erase_insert, __VA_ARGS__)->Arg(1000)->Arg(100000)->Arg(1000000)->UseRealTime();

JITCM_LOOKUP_BENCHMARKS(map_under_mutex)
JITCM_LOOKUP_BENCHMARKS(segment_map)
JITCM_LOOKUP_BENCHMARKS(unsynchronised_segment_map)
JITCM_LOOKUP_BENCHMARKS(cached<segment_map>)
JITCM_LOOKUP_BENCHMARKS(sorted_map)
JITCM_LOOKUP_BENCHMARKS(lock_free_array)
JITCM_LOOKUP_BENCHMARKS(cached<sorted_map>)
JITCM_LOOKUP_BENCHMARKS(cached<lock_free_array>)

}  // namespace

BENCHMARK_MAIN();
