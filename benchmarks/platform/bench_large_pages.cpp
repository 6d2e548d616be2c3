// Instruction-TLB-heavy calls: `functions` tiny functions, each on a page of
// its own, called in a shuffled order through function pointers, from a code
// space on 4 KiB pages and from one asked for transparent huge pages (the
// same allocator, the same strategy; only allocator::options::pages
// differs). The huge_bytes counter says how much of the code the kernel
// really put on huge pages (0 when THP is off: then both runs are 4 KiB).
//
//   meson setup build-bench -Dbenchmarks=true -Dtests=false -Dexamples=false
//   ninja -C build-bench benchmarks/platform/bench_large_pages
//   build-bench/benchmarks/platform/bench_large_pages
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include <jitcm/allocator/all.hpp>
#include <jitcm/platform/large_pages.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>

#include "machine_code.hpp"

namespace {

using code_allocator = jitcm::allocator::tlsf<jitcm::protection::mprotect_toggle>;

// A page and a cache line apart, so that every call needs its own TLB entry
// and lands in a different cache set.
constexpr std::size_t stride = 4096 + 64;

struct spread_code {
  std::vector<example::int_function> order;  // shuffled
  std::size_t huge_bytes = 0;
};

/// Writes `count` functions `stride` bytes apart in one block (one write
/// scope, so protection changes cover the whole block and split no large
/// page), and returns them in a fixed shuffled order.
bool write_functions(code_allocator& code, std::size_t count, spread_code& out) {
  auto block = code.allocate(count * stride);
  if (!block) return false;
  {
    auto scope = code.begin_write(block->region());
    if (!scope) return false;
    for (std::size_t i = 0; i < count; ++i) {
      const example::return_constant function(static_cast<std::uint32_t>(i & 0x7ff));
      std::memcpy(reinterpret_cast<void*>(block->writable() + i * stride), function.bytes.data(), function.size);
    }
  }
  out.order.resize(count);
  for (std::size_t i = 0; i < count; ++i) out.order[i] = example::function_at(block->executable() + i * stride);
  std::shuffle(out.order.begin(), out.order.end(), std::mt19937{42});
  if (auto usage = jitcm::platform::large_page_usage_of(block->region())) out.huge_bytes = usage->huge;
  return true;
}

void calls_across_pages(benchmark::State& state, jitcm::platform::page_backing pages) {
  const auto count = static_cast<std::size_t>(state.range(0));
  jitcm::allocator::options o;
  o.pages = pages;
  o.max_code_space_size = std::size_t{1} << 30;
  code_allocator code(o);
  spread_code functions;
  if (!write_functions(code, count, functions)) {
    state.SkipWithError("cannot write the functions");
    return;
  }
  for (auto _ : state) {
    int sum = 0;
    for (const example::int_function f : functions.order) sum += f();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.counters["huge_bytes"] = static_cast<double>(functions.huge_bytes);
  state.counters["code_bytes"] = static_cast<double>(count * stride);
}

void small_pages(benchmark::State& state) { calls_across_pages(state, jitcm::platform::page_backing::normal); }
void large_pages(benchmark::State& state) {
  calls_across_pages(state, jitcm::platform::page_backing::transparent_huge);
}

BENCHMARK(small_pages)->Arg(1024)->Arg(2048)->Arg(8192);
BENCHMARK(large_pages)->Arg(1024)->Arg(2048)->Arg(8192);

}  // namespace

BENCHMARK_MAIN();
