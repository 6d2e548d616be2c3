// Issue 3's allocator benchmarks: (a) allocate 100,000 blocks of 8-1031
// bytes, (b) free them in random order, (c) churn: 50,000 live blocks, free
// and reallocate a random one 1,000,000 times, (d) committed / live bytes at
// the end of (c). Every jitcm allocator and asmjit's JitAllocator (default
// options) run the same precomputed script; a table of ns per operation and
// the ratio to asmjit follows Google Benchmark's output.
#include <jitcm/allocator/all.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "workload.hpp"

#if defined(JITCM_BENCH_ASMJIT)
#include <asmjit/core.h>
#endif

namespace {

/// One allocator behind the interface the workloads need.
template <class Allocator>
struct jitcm_subject {
  using handle = jitcm::code_block;
  Allocator allocator;
  handle allocate(std::size_t bytes) {
    auto b = allocator.allocate(bytes);
    if (!b) std::abort();  // a benchmark cannot go on without its blocks
    return *b;
  }
  void free(const handle& h) {
    if (!allocator.free(h)) std::abort();
  }
  std::size_t committed() const { return allocator.stats().committed; }
};

#if defined(JITCM_BENCH_ASMJIT)
struct asmjit_subject {
  using handle = void*;
  asmjit::JitAllocator allocator;
  handle allocate(std::size_t bytes) {
    void* rx = nullptr;
    void* rw = nullptr;
    if (allocator.alloc(&rx, &rw, bytes) != asmjit::kErrorOk) std::abort();
    return rx;
  }
  void free(handle h) {
    if (allocator.release(h) != asmjit::kErrorOk) std::abort();
  }
  // asmjit maps (commits) whole blocks: what it has reserved is committed.
  std::size_t committed() const { return allocator.statistics().reservedSize(); }
};
#endif

/// ns per operation of each (subject, workload), and committed/live after churn.
std::map<std::string, std::map<std::string, double>>& results() {
  static std::map<std::string, std::map<std::string, double>> r;
  return r;
}

using clock_type = std::chrono::steady_clock;

double ns_since(clock_type::time_point start, std::size_t ops) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / static_cast<double>(ops);
}

template <class Subject>
void allocate_all(benchmark::State& state, const char* name) {
  const bench::script& s = bench::script::get();
  double best = 1e300;
  for (auto _ : state) {
    auto subject = std::make_unique<Subject>();
    // Sized (and so touched) before the clock starts: page faults on the
    // benchmark's own vector must not count (handles differ in size).
    std::vector<typename Subject::handle> blocks(bench::block_count);
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < bench::block_count; ++i) blocks[i] = subject->allocate(s.sizes[i]);
    const double ns = ns_since(start, bench::block_count);
    state.SetIterationTime(ns * bench::block_count * 1e-9);
    best = std::min(best, ns);
    benchmark::DoNotOptimize(blocks.data());
  }
  state.counters["ns_per_op"] = best;
  results()[name]["allocate"] = best;
}

template <class Subject>
void free_random(benchmark::State& state, const char* name) {
  const bench::script& s = bench::script::get();
  double best = 1e300;
  for (auto _ : state) {
    auto subject = std::make_unique<Subject>();
    std::vector<typename Subject::handle> blocks;
    blocks.reserve(bench::block_count);
    for (std::size_t size : s.sizes) blocks.push_back(subject->allocate(size));
    const auto start = clock_type::now();
    for (std::size_t i : s.free_order) subject->free(blocks[i]);
    const double ns = ns_since(start, bench::block_count);
    state.SetIterationTime(ns * bench::block_count * 1e-9);
    best = std::min(best, ns);
  }
  state.counters["ns_per_op"] = best;
  results()[name]["free"] = best;
}

template <class Subject>
void churn(benchmark::State& state, const char* name) {
  const bench::script& s = bench::script::get();
  double best = 1e300;
  double ratio = 0;
  for (auto _ : state) {
    auto subject = std::make_unique<Subject>();
    std::vector<typename Subject::handle> blocks;
    std::vector<std::size_t> sizes(s.sizes.begin(), s.sizes.begin() + bench::churn_live);
    blocks.reserve(bench::churn_live);
    for (std::size_t size : sizes) blocks.push_back(subject->allocate(size));
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < bench::churn_steps; ++i) {
      const std::size_t slot = s.churn_slot[i];
      subject->free(blocks[slot]);
      blocks[slot] = subject->allocate(s.churn_size[i]);
      sizes[slot] = s.churn_size[i];
    }
    const double ns = ns_since(start, bench::churn_steps);
    state.SetIterationTime(ns * bench::churn_steps * 1e-9);
    best = std::min(best, ns);
    std::size_t live = 0;
    for (std::size_t size : sizes) live += size;
    ratio = static_cast<double>(subject->committed()) / static_cast<double>(live);
  }
  state.counters["ns_per_op"] = best;
  state.counters["committed_per_live"] = ratio;
  results()[name]["churn"] = best;
  results()[name]["committed/live"] = ratio;
}

template <class Subject>
void register_subject(const char* name) {
  const std::string n = name;
  benchmark::RegisterBenchmark((n + "/allocate_100k").c_str(), allocate_all<Subject>, name)
      ->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((n + "/free_100k_random").c_str(), free_random<Subject>, name)
      ->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((n + "/churn_1M").c_str(), churn<Subject>, name)
      ->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
}

void print_summary() {
  auto& r = results();
  const char* columns[] = {"allocate", "free", "churn", "committed/live"};
  std::printf("\n%-22s %12s %12s %12s %15s\n", "ns per operation", "allocate", "free", "churn", "committed/live");
  for (const auto& [name, row] : r) {
    std::printf("%-22s", name.c_str());
    for (const char* c : columns) {
      auto it = row.find(c);
      std::printf(std::string(c) == "committed/live" ? " %15.3f" : " %12.1f", it == row.end() ? 0.0 : it->second);
    }
    std::printf("\n");
  }
  auto peer = r.find("asmjit");
  if (peer == r.end()) return;
  std::printf("\n%-22s %12s %12s %12s %15s\n", "asmjit time / ours", "allocate", "free", "churn", "ours/asmjit");
  for (const auto& [name, row] : r) {
    if (name == "asmjit") continue;
    std::printf("%-22s", name.c_str());
    for (const char* c : columns) {
      auto mine = row.find(c);
      auto theirs = peer->second.find(c);
      const bool have = mine != row.end() && theirs != peer->second.end() && mine->second > 0;
      if (std::string(c) == "committed/live") std::printf(" %15.3f", have ? mine->second / theirs->second : 0.0);
      else std::printf(" %11.2fx", have ? theirs->second / mine->second : 0.0);
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace alloc = jitcm::allocator;
  register_subject<jitcm_subject<alloc::tlsf<>>>("jitcm::tlsf");
  register_subject<jitcm_subject<alloc::pool<>>>("jitcm::pool");
  register_subject<jitcm_subject<alloc::bump<>>>("jitcm::bump");
#if defined(JITCM_BENCH_ASMJIT)
  register_subject<asmjit_subject>("asmjit");
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_summary();
  return 0;
}
