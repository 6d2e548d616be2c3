// Issue 3's allocator benchmarks: (a) allocate 100,000 blocks of 8-1031
// bytes, (b) free them in random order, (c) churn: 50,000 live blocks, free
// and reallocate a random one 1,000,000 times, (d) committed / live bytes at
// the end of (c). Every jitcm allocator and asmjit's JitAllocator run the
// same precomputed script, timed in thread CPU time. Tables of ns per
// operation (the median over --benchmark_repetitions) follow Google
// Benchmark's output: every subject against asmjit's default, and like with
// like (dual mapping against asmjit's kUseDualMapping, mprotect toggling
// against asmjit's default).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "report.hpp"
#include "subjects.hpp"
#include "workload.hpp"

namespace {

/// ns per operation of each (subject, measure), one entry per repetition.
std::map<std::string, std::map<std::string, std::vector<double>>>& results() {
  static std::map<std::string, std::map<std::string, std::vector<double>>> r;
  return r;
}

// CPU time of this thread, system calls included: on a machine shared with
// other work, wall time mostly measures how long the thread waited for a
// core.
struct thread_cpu_clock {
  using time_point = double;  // ns
  static time_point now() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
  }
};
using clock_type = thread_cpu_clock;

double ns_since(clock_type::time_point start, std::size_t ops) {
  return (clock_type::now() - start) / static_cast<double>(ops);
}

// Records the best of a repetition's iterations.
void record(benchmark::State& state, const char* name, const char* measure, double value) {
  state.counters[measure] = value;
  results()[name][measure].push_back(value);
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
    bench::allocate_blocks(*subject, blocks, s);
    const double ns = ns_since(start, bench::block_count);
    state.SetIterationTime(ns * bench::block_count * 1e-9);
    best = std::min(best, ns);
    benchmark::DoNotOptimize(blocks.data());
  }
  record(state, name, "allocate", best);
}

template <class Subject>
void free_random(benchmark::State& state, const char* name) {
  const bench::script& s = bench::script::get();
  double best = 1e300;
  for (auto _ : state) {
    auto subject = std::make_unique<Subject>();
    std::vector<typename Subject::handle> blocks(bench::block_count);
    bench::allocate_blocks(*subject, blocks, s);
    const auto start = clock_type::now();
    bench::free_blocks(*subject, blocks, s);
    const double ns = ns_since(start, bench::block_count);
    state.SetIterationTime(ns * bench::block_count * 1e-9);
    best = std::min(best, ns);
  }
  record(state, name, "free", best);
}

template <class Subject>
void churn(benchmark::State& state, const char* name) {
  const bench::script& s = bench::script::get();
  double best = 1e300;
  double ratio = 0;
  for (auto _ : state) {
    auto subject = std::make_unique<Subject>();
    std::vector<typename Subject::handle> blocks(bench::churn_live);
    std::vector<std::size_t> sizes(s.sizes.begin(), s.sizes.begin() + bench::churn_live);
    bench::allocate_blocks(*subject, blocks, s);
    const auto start = clock_type::now();
    bench::churn_blocks(*subject, blocks, sizes, s);
    const double ns = ns_since(start, bench::churn_steps);
    state.SetIterationTime(ns * bench::churn_steps * 1e-9);
    best = std::min(best, ns);
    std::size_t live = 0;
    for (std::size_t size : sizes) live += size;
    ratio = static_cast<double>(subject->committed()) / static_cast<double>(live);
  }
  record(state, name, "churn", best);
  record(state, name, "committed/live", ratio);
}

template <class Subject>
void register_subject(const char* name) {
  const std::string n = name;
  benchmark::RegisterBenchmark((n + "/allocate_100k").c_str(), allocate_all<Subject>, name)
      ->UseManualTime()
      ->Iterations(5)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((n + "/free_100k_random").c_str(), free_random<Subject>, name)
      ->UseManualTime()
      ->Iterations(5)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((n + "/churn_1M").c_str(), churn<Subject>, name)
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

constexpr const char* measures[] = {"allocate", "free", "churn", "committed/live"};

double median_of(const std::string& subject, const char* measure) {
  auto row = results().find(subject);
  if (row == results().end()) return 0;
  auto cell = row->second.find(measure);
  return cell == row->second.end() ? 0 : bench::median(cell->second);
}

// asmjit's time over ours (higher is better for us), and committed/live
// ours over asmjit's (lower is better).
void print_ratio_row(const std::string& ours, const std::string& peer) {
  std::printf("%-52s", (ours + " vs " + peer).c_str());
  for (const char* m : measures) {
    const double mine = median_of(ours, m);
    const double theirs = median_of(peer, m);
    const bool have = mine > 0 && theirs > 0;
    if (std::string(m) == "committed/live")
      std::printf(" %15.3f", have ? mine / theirs : 0.0);
    else
      std::printf(" %11.2fx", have ? theirs / mine : 0.0);
  }
  std::printf("\n");
}

void print_summary() {
  std::printf("\n%-52s %12s %12s %12s %15s\n", "median ns per operation", "allocate", "free", "churn",
              "committed/live");
  for (const auto& [name, row] : results()) {
    std::printf("%-52s", name.c_str());
    for (const char* m : measures) {
      std::printf(std::string(m) == "committed/live" ? " %15.3f" : " %12.1f", median_of(name, m));
    }
    std::printf("\n");
  }
  if (results().count("asmjit") == 0) return;
  std::printf("\n%-52s %12s %12s %12s %15s\n", "asmjit time / ours", "allocate", "free", "churn", "ours/asmjit");
  for (const auto& [name, row] : results()) {
    if (name.rfind("asmjit", 0) != 0) print_ratio_row(name, "asmjit");
  }
  std::printf("\nlike with like:\n");
  print_ratio_row("jitcm::default_allocator<dual_mapping>", "asmjit<dual_mapping>");
  print_ratio_row("jitcm::default_allocator<mprotect>", "asmjit");
}

}  // namespace

int main(int argc, char** argv) {
  namespace alloc = jitcm::allocator;
  register_subject<bench::default_subject>("jitcm::default_allocator");
  register_subject<bench::default_dual_mapping>("jitcm::default_allocator<dual_mapping>");
  register_subject<bench::default_mprotect>("jitcm::default_allocator<mprotect>");
  register_subject<bench::tlsf_default>("jitcm::tlsf");
  register_subject<bench::jitcm_subject<alloc::pool<>>>("jitcm::pool");
  register_subject<bench::jitcm_subject<alloc::bump<>>>("jitcm::bump");
#if defined(JITCM_BENCH_ASMJIT)
  register_subject<bench::asmjit_default>("asmjit");
  register_subject<bench::asmjit_dual_mapping>("asmjit<dual_mapping>");
#endif
  return bench::run_then(argc, argv, print_summary);
}
