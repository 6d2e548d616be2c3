// Retargeting under execution, after V8's jump-table-assembler test: runner
// threads call every slot in a loop while patcher threads retarget each slot
// between thunks hundreds of times. Every call must land on one of the slot's
// thunks (they return distinct values); a torn branch would crash or return
// another slot's value.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/rwx.hpp>

#include "catch.hpp"
#include "host_code.hpp"

namespace jt = jitcm::jump_table;
using jitcm::testing::call;
using jitcm::testing::table_space;

namespace {

constexpr std::uint32_t slots = 128;
constexpr int rounds = 200;  // retargets per slot
constexpr int runners = 2;
constexpr int patchers = 2;

struct outcome {
  std::atomic<long> calls{0};
  std::atomic<long> wrong{0};
  std::atomic<long> patch_failures{0};
};

// Runs runner threads over every slot while `patch_slot(i, round)` is called
// `rounds` times for each slot, the slots split between patcher threads (one
// slot is only ever patched by one thread).
template <class Table, class PatchSlot>
void run_stress(Table& table, PatchSlot patch_slot, outcome& result) {
  std::atomic<bool> done{false};
  std::atomic<int> running{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < runners; ++r) {
    threads.emplace_back([&] {
      long calls = 0;
      long wrong = 0;
      bool counted = false;
      while (!done.load(std::memory_order_acquire)) {
        for (std::uint32_t i = 0; i < slots; ++i) {
          const int value = call(table.call_target(i));
          if (value < 0 || static_cast<std::uint32_t>(value) / 3 != i) ++wrong;
          ++calls;
        }
        // Patching starts once every runner has been through every slot.
        if (!counted) running.fetch_add(1);
        counted = true;
      }
      result.calls += calls;
      result.wrong += wrong;
    });
  }
  while (running.load() < runners) std::this_thread::yield();
  std::vector<std::thread> patcher_threads;
  for (int p = 0; p < patchers; ++p) {
    patcher_threads.emplace_back([&, p] {
      for (int round = 0; round < rounds; ++round) {
        for (std::uint32_t i = static_cast<std::uint32_t>(p); i < slots; i += patchers) {
          if (!patch_slot(i, round)) ++result.patch_failures;
        }
      }
    });
  }
  for (auto& t : patcher_threads) t.join();
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
}

// near thunk 0 -> far thunk -> near thunk 1 -> far thunk -> ...: every
// retarget switches the slot between a direct branch and its far slot.
template <class Table>
std::uintptr_t target_for(const Table& table, std::uint32_t i, int round) {
  switch (round % 4) {
    case 0:
      return table.far_thunk(i);
    case 1:
      return table.near_thunk(i, 1);
    case 2:
      return table.far_thunk(i);
    default:
      return table.near_thunk(i, 0);
  }
}

template <class Strategy>
void stress_near_and_far() {
  auto created = table_space<Strategy>::create(slots);
  if (!created && created.error() == make_error_code(jitcm::errc::unsupported)) {
    WARN(Strategy::name << " is not available here");
    return;
  }
  REQUIRE(created);
  auto& table = *created;
  REQUIRE(table.initialize(0x10));
  for (std::uint32_t i = 0; i < slots; ++i) REQUIRE(table.patch(i, table.near_thunk(i, 0)));

  outcome result;
  run_stress(
      table, [&](std::uint32_t i, int round) { return table.patch(i, target_for(table, i, round)).has_value(); },
      result);
  CHECK(result.patch_failures == 0);
  CHECK(result.wrong == 0);
  CHECK(result.calls > 0);
  // rounds is a multiple of 4: every slot is back at near thunk 0.
  for (std::uint32_t i = 0; i < slots; ++i) {
    CHECK(jt::host::current_target(table.view(), i) == table.near_thunk(i, 0));
  }
  INFO(result.calls << " calls during " << slots * rounds << " retargets");
  CHECK(call(table.call_target(slots - 1)) == 3 * static_cast<int>(slots - 1));
}

}  // namespace

TEST_CASE("near and far retargeting under execution (rwx)", "[jump_table][stress]") {
  stress_near_and_far<jitcm::protection::rwx>();
}

TEST_CASE("near and far retargeting under execution (dual_mapping)", "[jump_table][stress]") {
#if defined(JITCM_TEST_EMULATED)
  WARN("skipped under emulation: qemu-user does not see code written through the second mapping");
#else
  stress_near_and_far<jitcm::protection::dual_mapping>();
#endif
}

TEST_CASE("far-only retargeting under execution (mprotect_toggle)", "[jump_table][stress]") {
  auto created = table_space<jitcm::protection::mprotect_toggle>::create(slots);
  REQUIRE(created);
  auto& table = *created;
  REQUIRE(table.initialize(0x10, jt::routing::far_only));
  for (std::uint32_t i = 0; i < slots; ++i) REQUIRE(jt::host::patch_far(table.view(), i, table.near_thunk(i, 0)));

  outcome result;
  run_stress(
      table,
      [&](std::uint32_t i, int round) {
        return jt::host::patch_far(table.view(), i, target_for(table, i, round)).has_value();
      },
      result);
  CHECK(result.patch_failures == 0);
  CHECK(result.wrong == 0);
  CHECK(result.calls > 0);
  for (std::uint32_t i = 0; i < slots; ++i) {
    CHECK(jt::host::current_target(table.view(), i) == table.near_thunk(i, 0));
  }
}
