// The trap handler under concurrency: threads trapping in JIT code while
// other threads publish and free code of the same manager, and a manager
// detached while threads keep faulting in its code.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "trap_fixture.hpp"

namespace {

using namespace jitcm::testing;
namespace trap = jitcm::trap;

constexpr int trapping_threads = 4;
constexpr int traps_per_thread = 2500;  // 10,000 in all
constexpr int churning_threads = 2;

/// Publishes and frees protected code in its own module of `manager` until
/// told to stop, so the manager's lookup changes under the handler's feet.
/// Returns how many code objects it published (0 after any failure).
int churn(manager_type& manager, const std::atomic<bool>& stop) {
  auto module = manager.new_module({});
  if (!module) return 0;
  const load_function load;
  const std::uint32_t load_offset[] = {load.load_offset};
  int published = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const jitcm::code* c = publish(**module, load.code.span(), load_offset);
    if (c == nullptr || !(*module)->remove(c)) return 0;
    (*module)->collect({});
    ++published;
  }
  return published;
}

TEST_CASE_METHOD(attached_jit,
                 "10,000 traps on 4 threads resume at the landing pad while other threads publish and free code",
                 "[trap]") {
  std::atomic<bool> stop{false};
  std::vector<int> published(churning_threads, 0);
  std::vector<std::thread> churners;
  for (int i = 0; i < churning_threads; ++i) {
    churners.emplace_back([&, i] { published[i] = churn(manager, stop); });
  }
  std::vector<int> landed(trapping_threads, 0);
  std::vector<int> mismatched_faults(trapping_threads, 0);
  std::vector<std::thread> trappers;
  for (int t = 0; t < trapping_threads; ++t) {
    trappers.emplace_back([&, t] {
      for (int i = 0; i < traps_per_thread; ++i) {
        if (call_load(jit.protected_load, guard.pointer()) == trapped) ++landed[t];
        if (trap::last_fault() != trap::fault{jit.load_pc, guard.address()}) ++mismatched_faults[t];
      }
    });
  }
  for (auto& t : trappers) t.join();
  stop.store(true);
  for (auto& t : churners) t.join();

  for (int t = 0; t < trapping_threads; ++t) {
    CHECK(landed[t] == traps_per_thread);
    CHECK(mismatched_faults[t] == 0);
  }
  for (int p : published) CHECK(p > 0);
  CHECK(forwarded_count.load() == 0);
}

TEST_CASE_METHOD(attached_jit,
                 "detaching a manager while threads fault in its code: no fault is lost, none lands after detach",
                 "[trap]") {
  constexpr int rounds_after_detach = 50;
  std::atomic<int> started{0};
  std::atomic<bool> detached{false};
  struct outcome {
    int landed = 0, forwarded = 0, other = 0, landed_after_detach = 0;
  };
  std::vector<outcome> outcomes(trapping_threads);
  std::vector<std::thread> trappers;
  for (int t = 0; t < trapping_threads; ++t) {
    trappers.emplace_back([&, t] {
      started.fetch_add(1);
      outcome& mine = outcomes[t];
      for (int after = 0; after < rounds_after_detach;) {
        const bool was_detached = detached.load();
        int result = 0;
        if (reaches_previous_handler([&] { result = call_load(jit.protected_load, guard.pointer()); })) {
          ++mine.forwarded;
        } else if (result == trapped) {
          ++mine.landed;
          if (was_detached) ++mine.landed_after_detach;
        } else {
          ++mine.other;
        }
        if (was_detached) ++after;
      }
    });
  }
  while (started.load() < trapping_threads) std::this_thread::yield();
  registration.detach();
  detached.store(true);
  for (auto& t : trappers) t.join();

  int total_forwarded = 0;
  for (const outcome& o : outcomes) {
    CHECK(o.other == 0);
    CHECK(o.landed_after_detach == 0);
    CHECK(o.forwarded >= rounds_after_detach);
    total_forwarded += o.forwarded;
  }
  CHECK(total_forwarded == forwarded_count.load());
}

}  // namespace
