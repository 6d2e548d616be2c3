// Thread scaling of allocate + free: each thread keeps 20,000 live blocks of
// 8-1031 bytes and frees and reallocates a random one 200,000 times.
//
// - jitcm, two allocators sharing a commit_budget: what two modules of one
//   code manager are (each module has its allocator; the manager's budget
//   counts them together);
// - jitcm, one allocator shared by the threads (its mutex);
// - asmjit, one JitAllocator shared (its alloc and release lock a mutex of
//   their own, so it needs no lock of ours), and one per thread.
//
// Each runs with one thread and with two; the table after Google
// Benchmark's output gives ns per operation (wall time over all operations
// of all threads, median over --benchmark_repetitions), the two-thread
// speed-up, and asmjit's shared allocator's time over ours.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "report.hpp"
#include "subjects.hpp"

namespace {

constexpr std::size_t live_per_thread = 20'000;
constexpr std::size_t steps_per_thread = 200'000;

/// One thread's precomputed choices (a seed per thread).
struct thread_script {
  std::vector<std::size_t> sizes;  // live_per_thread initial sizes
  std::vector<std::size_t> slot;   // steps_per_thread
  std::vector<std::size_t> size;   // steps_per_thread

  explicit thread_script(unsigned seed) {
    std::mt19937_64 rng{seed};
    std::uniform_int_distribution<std::size_t> bytes(8, 1031);
    std::uniform_int_distribution<std::size_t> slots(0, live_per_thread - 1);
    sizes.resize(live_per_thread);
    for (auto& s : sizes) s = bytes(rng);
    slot.resize(steps_per_thread);
    size.resize(steps_per_thread);
    for (std::size_t i = 0; i < steps_per_thread; ++i) {
      slot[i] = slots(rng);
      size[i] = bytes(rng);
    }
  }
};

const thread_script& script_of(std::size_t thread) {
  static const thread_script scripts[2] = {thread_script{1}, thread_script{2}};
  return scripts[thread];
}

template <class Subject>
std::unique_ptr<Subject> make_subject(jitcm::commit_budget& budget) {
  if constexpr (std::is_constructible_v<Subject, const jitcm::allocator::options&>) {
    return std::make_unique<Subject>(jitcm::allocator::options{.budget = &budget});
  } else {
    return std::make_unique<Subject>();
  }
}

std::map<std::string, std::vector<double>>& results() {
  static std::map<std::string, std::vector<double>> r;
  return r;
}

// ns per operation with `threads` threads, each on subject `shared ? 0 : t`.
template <class Subject>
double run(std::size_t threads, bool shared) {
  jitcm::commit_budget budget;
  std::vector<std::unique_ptr<Subject>> subjects;
  for (std::size_t t = 0; t < (shared ? 1 : threads); ++t) subjects.push_back(make_subject<Subject>(budget));
  std::vector<std::vector<typename Subject::handle>> blocks(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    Subject& s = *subjects[shared ? 0 : t];
    for (std::size_t size : script_of(t).sizes) blocks[t].push_back(s.allocate(size));
  }
  std::barrier start{static_cast<std::ptrdiff_t>(threads + 1)};
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Subject& s = *subjects[shared ? 0 : t];
      const thread_script& script = script_of(t);
      std::vector<typename Subject::handle>& mine = blocks[t];
      start.arrive_and_wait();
      for (std::size_t i = 0; i < steps_per_thread; ++i) {
        s.free(mine[script.slot[i]]);
        mine[script.slot[i]] = s.allocate(script.size[i]);
      }
    });
  }
  start.arrive_and_wait();
  const auto begin = std::chrono::steady_clock::now();
  for (std::thread& w : workers) w.join();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - begin).count();
  for (std::size_t t = 0; t < threads; ++t) {
    for (const auto& h : blocks[t]) subjects[shared ? 0 : t]->free(h);
  }
  return ns / static_cast<double>(threads * steps_per_thread);
}

template <class Subject>
void scaling(benchmark::State& state, std::string name, bool shared) {
  const std::size_t threads = static_cast<std::size_t>(state.range(0));
  double ns = 0;
  for (auto _ : state) {
    ns = run<Subject>(threads, shared);
    state.SetIterationTime(ns * static_cast<double>(threads * steps_per_thread) * 1e-9);
  }
  state.counters["ns_per_op"] = ns;
  results()[name + (threads == 1 ? "/1" : "/2")].push_back(ns);
}

template <class Subject>
void register_case(const std::string& name, bool shared) {
  benchmark::RegisterBenchmark(name.c_str(), scaling<Subject>, name, shared)
      ->Arg(1)
      ->Arg(2)
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

void print_summary() {
  std::printf("\n%-40s %14s %14s %10s %16s\n", "ns per op (all threads)", "1 thread", "2 threads", "speed-up",
              "asmjit shared/us");
  const double peer = bench::median(results()["asmjit, one shared/2"]);
  std::vector<std::string> names;
  for (const auto& [key, values] : results()) {
    const std::string name = key.substr(0, key.size() - 2);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const std::string& name : names) {
    const double one = bench::median(results()[name + "/1"]);
    const double two = bench::median(results()[name + "/2"]);
    std::printf("%-40s %14.1f %14.1f %9.2fx %15.2fx\n", name.c_str(), one, two, two > 0 ? one / two : 0.0,
                two > 0 && peer > 0 ? peer / two : 0.0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_case<bench::default_subject>("jitcm::default_allocator, one per thread", false);
  register_case<bench::default_subject>("jitcm::default_allocator, one shared", true);
#if defined(JITCM_BENCH_ASMJIT)
  register_case<bench::asmjit_default>("asmjit, one per thread", false);
  register_case<bench::asmjit_default>("asmjit, one shared", true);
#endif
  return bench::run_then(argc, argv, print_summary);
}
