// What every multi-threaded JIT does all day, on the default manager and on
// every preset: threads run published code in a loop while other threads
// publish other functions, tier up, remove code, lazily compile, collect and
// flush for memory pressure. No call may crash, and every call must return
// what one of the versions ever installed for that function returns.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core_fixture.hpp"

using jitcm::tiering::two_tier;
using namespace jitcm::testing;

namespace {

constexpr std::uint32_t functions = 8;
constexpr int callers = 2;

/// How many rounds each writing thread makes: fewer under emulation and the
/// sanitizers (JITCM_STRESS_ROUNDS overrides).
int rounds() {
  if (const char* text = std::getenv("JITCM_STRESS_ROUNDS")) return std::atoi(text);
#if defined(JITCM_TEST_ALIAS_REWRITES_UNSEEN)
  return 40;
#else
  return 300;
#endif
}

// Function i's versions return 10 i + 1 (baseline) or 10 i + 2 (optimized).
int baseline_value(std::uint32_t i) { return static_cast<int>(10 * i + 1); }
int optimized_value(std::uint32_t i) { return static_cast<int>(10 * i + 2); }

// Where the cells of a table of pointers lead before a function has code:
// an interpreter that loads this compiles the function itself.
int portable_lazy_marker() { return -7; }

template <class Manager>
class stress_run {
 public:
  using module_type = typename Manager::module;
  static constexpr bool machine_code = Manager::jump_table_type::has_machine_code;

  stress_run() {
    jitcm::module_options options{.functions = functions};
    if constexpr (machine_code) {
      options.lazy = {&stress_run::compile_lazily, this};
    } else {
      options.lazy_entry = reinterpret_cast<std::uintptr_t>(&portable_lazy_marker);
    }
    auto created = manager_.new_module(options);
    REQUIRE(created);
    module_ = std::move(*created);
  }

  void run() {
    std::atomic<int> writers_left{4};
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; ++c) threads.emplace_back([&, c] { call_loop(c, writers_left); });
    threads.emplace_back([&] { writer(writers_left, [&](int round) { publish_other(round); }); });
    threads.emplace_back([&] { writer(writers_left, [&](int round) { tier_up(round); }); });
    threads.emplace_back([&] { writer(writers_left, [&](int round) { remove_one(round); }); });
    threads.emplace_back([&] {
      writer(writers_left, [&](int round) {
        if (round % 3 == 0) (void)manager_.flush_for_memory_pressure();
        collect_at_safepoint();
      });
    });
    for (auto& t : threads) t.join();
    collect_at_safepoint();
  }

  void check() const {
    INFO(calls_.load() << " calls, " << lazy_compiles_.load() << " lazy compiles, " << published_.load()
                       << " publishes, " << removed_.load() << " removals");
    CHECK(wrong_.load() == 0);
    CHECK(errors_.load() == 0);
    CHECK(calls_.load() > 0);
    CHECK(published_.load() > 0);
    const jitcm::module_stats stats = module_->stats();
    CHECK(stats.installed <= functions);
    std::printf("  %ld calls, %ld lazy compiles, %ld publishes, %ld removals; %zu code objects freed\n", calls_.load(),
                lazy_compiles_.load(), published_.load(), removed_.load(), stats.freed);
  }

 private:
  // The lazy-compile callback, on a calling thread: baseline code, then on
  // through the slot (the idiom that is safe under every policy).
  static std::uintptr_t compile_lazily(void* context, std::uint32_t index) noexcept {
    auto& self = *static_cast<stress_run*>(context);
    self.lazy_compiles_.fetch_add(1);
    self.publish(index, baseline_value(index), two_tier::baseline);
    return *self.module_->call_target(index);
  }

  void publish(std::uint32_t index, int value, jitcm::tier tier) {
    const example::return_constant bytes{static_cast<std::uint32_t>(value)};
    auto room = module_->allocate(bytes.size);
    if (!room) {
      errors_.fetch_add(1);
      return;
    }
    std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
    if (module_->publish(*room, {.index = index, .tier = tier}))
      published_.fetch_add(1);
    else
      errors_.fetch_add(1);
  }

  int call(std::uint32_t index) {
    if constexpr (machine_code) {
      return example::function_at(*module_->call_target(index))();
    } else {
      // An interpreter's call: load the cell; while it leads nowhere yet,
      // compile (another thread may remove the code again meanwhile).
      const auto* cell = reinterpret_cast<const std::atomic<std::uintptr_t>*>(*module_->call_target(index));
      for (;;) {
        const std::uintptr_t target = cell->load(std::memory_order_acquire);
        if (target != reinterpret_cast<std::uintptr_t>(&portable_lazy_marker)) return example::function_at(target)();
        lazy_compiles_.fetch_add(1);
        publish(index, baseline_value(index), two_tier::baseline);
      }
    }
  }

  // Each caller goes on until the writers are done and it has made a call:
  // on a loaded machine the writers may finish before a caller is scheduled.
  void call_loop(int caller, const std::atomic<int>& writers_left) {
    bool called = false;
    for (std::uint32_t i = 0; writers_left.load() > 0 || !called; i = (i + 1) % functions) {
      if (!enter_jit_code(caller)) continue;
      called = true;
      const int value = call(i);
      in_jit_code_[caller].store(false);
      if (value != baseline_value(i) && value != optimized_value(i)) wrong_.fetch_add(1);
      calls_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  template <class Step>
  void writer(std::atomic<int>& writers_left, Step step) {
    for (int round = 0; round < rounds(); ++round) step(round);
    writers_left.fetch_sub(1);
  }

  // Code for the functions the callers are not busy with right now, into the
  // same module (and so the same pages, where the allocator packs them).
  void publish_other(int round) {
    const auto index = static_cast<std::uint32_t>(round) % functions;
    publish(index, baseline_value(index), two_tier::baseline);
  }
  void tier_up(int round) {
    const auto index = static_cast<std::uint32_t>(round * 3) % functions;
    publish(index, optimized_value(index), two_tier::optimized);
  }
  void remove_one(int round) {
    const auto index = static_cast<std::uint32_t>(round * 5) % functions;
    [[maybe_unused]] typename Manager::code_ref_scope scope;  // holds what installed() returns
    auto installed = module_->installed(index);
    if (!installed) {
      errors_.fetch_add(1);
      return;
    }
    // Another thread may have replaced or removed it meanwhile: double_free then.
    if (*installed != nullptr && module_->remove(*installed)) removed_.fetch_add(1);
  }

  // V8's contract for collect: report what the stacks run. Here callers
  // stop between calls (a safepoint) while collect runs, so no stack runs
  // JIT code then. Sequentially consistent flags on both sides: either the
  // caller sees the request and backs off, or the collector sees the caller
  // inside and waits.
  void collect_at_safepoint() {
    safepoint_.store(true);
    for (const auto& inside : in_jit_code_) {
      while (inside.load()) std::this_thread::yield();
    }
    (void)manager_.collect({});
    safepoint_.store(false);
  }
  bool enter_jit_code(int caller) {
    in_jit_code_[caller].store(true);
    if (!safepoint_.load()) return true;
    in_jit_code_[caller].store(false);
    while (safepoint_.load()) std::this_thread::yield();
    return false;
  }

  Manager manager_;
  typename Manager::module_ptr module_;
  std::atomic<bool> safepoint_{false};
  std::atomic<bool> in_jit_code_[callers]{};
  std::atomic<long> calls_{0}, wrong_{0}, errors_{0}, lazy_compiles_{0}, published_{0}, removed_{0};
};

template <class Manager>
void stress(const char* name) {
  std::printf("%s:\n", name);
  stress_run<Manager> run;
  run.run();
  run.check();
}

}  // namespace

TEST_CASE("default code_manager: threads run code while others publish, tier up, remove, collect, flush",
          "[core][stress]") {
  stress<jitcm::code_manager>("code_manager");
}

TEST_CASE("the safe mprotect strategy, chosen by name: the same workload", "[core][stress]") {
  stress<jitcm::with_allocator<jitcm::code_manager,
                               jitcm::allocator::default_allocator<jitcm::protection::mprotect_toggle>>>(
      "code_manager with mprotect_toggle");
}

TEST_CASE("every preset: the same workload", "[core][stress]") {
  stress<jitcm::presets::v8_like>("presets::v8_like");
  stress<jitcm::presets::short_lived>("presets::short_lived");
  stress<jitcm::presets::portable>("presets::portable");
  stress<jitcm::presets::signal_safe>("presets::signal_safe");
#if defined(JITCM_HAS_DUAL_MAPPING) && !defined(JITCM_TEST_ALIAS_REWRITES_UNSEEN)
  stress<jitcm::presets::concurrent_tier_up>("presets::concurrent_tier_up");
#endif
}
