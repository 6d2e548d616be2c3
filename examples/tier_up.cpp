// tier_up: threads keep calling a function while the JIT replaces its
// baseline code with optimized code. Callers call the function's jump-table
// slot; installing the optimized code retargets the slot with one atomic
// store, so running threads move to the new code on their next call, without
// locks, without being stopped, and never through a half-written branch.
// The old code is freed once no thread can still be running it.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <jitcm/jitcm.hpp>

#include "machine_code.hpp"

#if defined(JITCM_HAS_DUAL_MAPPING)

namespace {

// Dual mapping: code is written through a second address, so no page ever
// stops being executable while the workers run.
using manager_type = jitcm::presets::concurrent_tier_up;
using tiers = jitcm::tiering::two_tier;

constexpr int workers = 3;
constexpr int baseline_result = 1;   // what the baseline code returns
constexpr int optimized_result = 2;  // what the optimized code returns

// f is compiled before anyone calls it.
std::uintptr_t unreachable_lazy_entry(void*, std::uint32_t) noexcept { return 0; }

bool compile(manager_type::module& module, int result, jitcm::tier tier, const char* name) {
  const example::return_constant machine_code{static_cast<std::uint32_t>(result)};
  auto room = module.allocate(machine_code.size);
  if (!room) return false;
  std::memcpy(room->writable(), machine_code.bytes.data(), machine_code.size);
  auto code = module.publish(*room, {.index = 0, .tier = tier, .name = name});
  return code && code->installed;
}

}  // namespace

int main() {
  manager_type manager;
  // Far routing: the slot jumps through an 8-byte cell in a read-write data
  // page, and retargeting it is one atomic store to that cell (no code is
  // rewritten, so even emulators that cache translated code see it at once).
  auto created = manager.new_module(
      {.functions = 1, .lazy = {&unreachable_lazy_entry, nullptr}, .routing = jitcm::jump_table::routing::far_only});
  if (!created) return std::printf("new_module: %s\n", created.error().message().c_str()), 1;
  manager_type::module& module = **created;

  if (!compile(module, baseline_result, tiers::baseline, "f (baseline)")) return 1;
  const example::int_function f = example::function_at(*module.call_target(0));
  std::printf("%d threads call f() through its slot at %#lx\n", workers,
              static_cast<unsigned long>(*module.call_target(0)));

  std::atomic<bool> stop{false};
  std::mutex print;
  std::vector<std::array<long, 3>> calls(workers, std::array<long, 3>{});
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      int last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const int result = f();
        ++calls[w][result == baseline_result ? 1 : result == optimized_result ? 2 : 0];
        if (result != last) {
          std::lock_guard lock{print};
          std::printf("  worker %d: f() = %d  (%s code)\n", w, result,
                      result == baseline_result    ? "baseline"
                      : result == optimized_result ? "optimized"
                                                   : "UNKNOWN");
          last = result;
        }
      }
    });
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard lock{print};
    std::printf("main: installing optimized code while the workers run\n");
  }
  if (!compile(module, optimized_result, tiers::optimized, "f (optimized)")) return 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  for (std::thread& t : threads) t.join();

  long wrong = 0;
  for (int w = 0; w < workers; ++w) {
    std::printf("worker %d: %ld calls ran baseline code, then %ld ran optimized code\n", w, calls[w][1], calls[w][2]);
    wrong += calls[w][0];
  }
  // The baseline code left the code table when the optimized code came in.
  // The workers have stopped: nothing runs it, so collect frees it.
  const jitcm::module_stats before = module.stats();
  const std::size_t freed = manager.collect({});
  manager_type::code_ref_scope scope;  // holds what installed() returns
  std::printf("installed now: %s; retired baseline code freed by collect: %zu of %zu\n",
              std::string((*module.installed(0))->name()).c_str(), freed, before.retired);
  const bool ok = wrong == 0 && f() == optimized_result && freed == 1;
  for (int w = 0; w < workers; ++w) {
    if (calls[w][2] == 0) std::printf("worker %d never ran the optimized code\n", w);
  }
  return ok ? 0 : 1;
}

#else

int main() {
  std::printf("tier_up needs dual mapping (protection::dual_mapping), which this platform lacks\n");
  return 0;
}

#endif
