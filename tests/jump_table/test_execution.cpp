// Calls through near, far and lazy slots of the host emitter reach the right
// code, under each W^X strategy.
#include <atomic>
#include <cstdint>
#include <vector>

#include <jitcm/jump_table/lazy_trampoline.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/rwx.hpp>

#include "catch.hpp"
#include "host_code.hpp"

namespace jt = jitcm::jump_table;
using jitcm::errc;
using jitcm::testing::call;
using jitcm::testing::table_space;

std::uintptr_t trampoline_address_from_second_unit();

namespace {

// Qemu-user does not notice code rewritten through a second mapping, so the
// emulated CPU keeps running the old translation of a slot patched under
// dual_mapping (real CPUs see the store). Those checks are skipped there.
template <class Strategy>
constexpr bool sees_rewritten_code() {
#if defined(JITCM_TEST_EMULATED)
  return !std::is_same_v<Strategy, jitcm::protection::dual_mapping>;
#else
  return true;
#endif
}

constexpr std::uintptr_t never_called_entry = 0x10;

}  // namespace

#define STRATEGIES jitcm::protection::mprotect_toggle, jitcm::protection::dual_mapping, jitcm::protection::rwx

TEMPLATE_TEST_CASE("calls reach near, far and near-again targets", "[jump_table][execution]", STRATEGIES) {
  auto created = table_space<TestType>::create(4);
  if (!created && created.error() == make_error_code(errc::unsupported)) {
    WARN(TestType::name << " is not available here");
    return;
  }
  REQUIRE(created);
  auto& table = *created;
  REQUIRE(table.initialize(never_called_entry));

  REQUIRE(table.patch(1, table.near_thunk(1, 0)));
  CHECK(call(table.call_target(1)) == 3);
  if (!sees_rewritten_code<TestType>()) {
    WARN("skipping re-patched calls: the emulator does not see code written through the second mapping");
    return;
  }
  REQUIRE(table.patch(1, table.far_thunk(1)));
  CHECK(jt::host::current_target(table.view(), 1) == table.far_thunk(1));
  CHECK(call(table.call_target(1)) == 4);
  REQUIRE(table.patch(1, table.near_thunk(1, 1)));
  CHECK(call(table.call_target(1)) == 5);
  REQUIRE(table.patch(1, table.far_thunk(1)));
  CHECK(call(table.call_target(1)) == 4);

  // Other slots are untouched and independent.
  REQUIRE(table.patch(2, table.far_thunk(2)));
  REQUIRE(table.patch(3, table.near_thunk(3, 0)));
  CHECK(call(table.call_target(2)) == 7);
  CHECK(call(table.call_target(3)) == 9);
  CHECK(call(table.call_target(1)) == 4);
}

TEMPLATE_TEST_CASE("far retargets change no page protection", "[jump_table][execution]", STRATEGIES) {
  auto created = table_space<TestType>::create(2);
  if (!created && created.error() == make_error_code(errc::unsupported)) return;
  REQUIRE(created);
  auto& table = *created;
  REQUIRE(table.initialize(never_called_entry, jt::routing::far_only));

  static std::atomic<int> changes{0};
  changes = 0;
  const auto previous = jitcm::platform::set_protection_hook(
      [](jitcm::address_region, jitcm::platform::access) noexcept -> std::error_code {
        ++changes;
        return {};
      });
  REQUIRE(jt::host::patch_far(table.view(), 0, table.far_thunk(0)));
  const int after_patch_far = changes.load();
  const int value = call(table.call_target(0));
  REQUIRE(jt::host::patch_far(table.view(), 0, table.near_thunk(0, 1)));
  const int value_after = call(table.call_target(0));
  REQUIRE(table.patch(0, table.far_thunk(0)));  // already routed far: only a data store
  const int after_patch = changes.load();
  jitcm::platform::set_protection_hook(previous);

  CHECK(after_patch_far == 0);
  CHECK(after_patch == 0);
  CHECK(value == 1);
  CHECK(value_after == 2);
  CHECK(call(table.call_target(0)) == 1);
}

TEST_CASE("a write scope that cannot be opened leaves the slot running its old target", "[jump_table][execution]") {
  auto created = table_space<jitcm::protection::mprotect_toggle>::create(1);
  REQUIRE(created);
  auto& table = *created;
  REQUIRE(table.initialize(never_called_entry));
  REQUIRE(table.patch(0, table.near_thunk(0, 0)));

  const auto previous = jitcm::platform::set_protection_hook(
      [](jitcm::address_region, jitcm::platform::access a) noexcept -> std::error_code {
        return jitcm::platform::is_writable(a) ? std::make_error_code(std::errc::permission_denied) : std::error_code{};
      });
  const auto refused = table.patch(0, table.near_thunk(0, 1));
  jitcm::platform::set_protection_hook(previous);

  REQUIRE_FALSE(refused);
  CHECK(refused.error() == std::errc::permission_denied);
  CHECK(jt::host::current_target(table.view(), 0) == table.near_thunk(0, 0));
  CHECK(call(table.call_target(0)) == 0);
}

// ---------------------------------------------------------------- lazy slots

namespace {

// Enough arguments that some travel on the stack on x86-64, and floating
// point ones, to show the trampoline hands the call on intact.
using wide_function = double (*)(long, long, long, long, long, long, long, long, double, double);

double weighted_sum(long a, long b, long c, long d, long e, long f, long g, long h, double x, double y) {
  return static_cast<double>(a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h) + x * 100.0 + y * 1000.0;
}
double weighted_difference(long a, long b, long c, long d, long e, long f, long g, long h, double x, double y) {
  return -weighted_sum(a, b, c, d, e, f, g, h, x, y);
}

struct lazy_state {
  table_space<jitcm::protection::mprotect_toggle>* table = nullptr;
  std::vector<std::uint32_t> compiled;
};
lazy_state lazy;

// What a JIT's lazy-compile entry does: compile (here: pick) the function,
// install it in the table, continue the original call there.
std::uintptr_t compile_lazily(std::uint32_t index) {
  lazy.compiled.push_back(index);
  const auto code = reinterpret_cast<std::uintptr_t>(index % 2 == 0 ? &weighted_sum : &weighted_difference);
  if (!lazy.table->patch(index, code)) return reinterpret_cast<std::uintptr_t>(&weighted_sum);
  return code;
}

}  // namespace

TEST_CASE("lazy slots run the handler once, then the compiled code, with the caller's arguments",
          "[jump_table][execution][lazy]") {
  if constexpr (!jt::has_lazy_trampoline) {
    WARN("no lazy trampoline on this platform");
    return;
  }
  auto created = table_space<jitcm::protection::mprotect_toggle>::create(6);
  REQUIRE(created);
  auto& table = *created;
  lazy = {&table, {}};
  auto entry = jt::lazy_trampoline(&compile_lazily);
  REQUIRE(entry);
  CHECK(*entry == trampoline_address_from_second_unit());
  REQUIRE(table.initialize(*entry));

  const auto call_wide = [&](std::uint32_t i) {
    return reinterpret_cast<wide_function>(table.call_target(i))(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.25);
  };
  const double expected = 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 50.0 + 250.0;
  CHECK(call_wide(4) == expected);
  CHECK(call_wide(5) == -expected);
  CHECK(call_wide(4) == expected);
  CHECK(call_wide(0) == expected);
  CHECK(call_wide(5) == -expected);
  CHECK(lazy.compiled == std::vector<std::uint32_t>{4, 5, 0});
}

TEST_CASE("lazy_trampoline refuses a null handler", "[jump_table][lazy]") {
  const auto entry = jt::lazy_trampoline(nullptr);
  REQUIRE_FALSE(entry);
  CHECK(entry.error() == errc::invalid_argument);
}

TEST_CASE("the portable table is a table of callable addresses", "[jump_table][execution][portable]") {
  std::vector<std::uint64_t> cells(jt::portable::data_bytes(3) / 8);
  const auto base = reinterpret_cast<std::uintptr_t>(cells.data());
  const jt::table_view view{0, 0, base, base, 3};
  const auto entry = reinterpret_cast<std::uintptr_t>(&weighted_sum);
  REQUIRE(jt::portable::initialize(view, entry));
  REQUIRE(jt::portable::patch(view, 2, reinterpret_cast<std::uintptr_t>(&weighted_difference), jt::already_writable{}));
  const auto call_cell = [&](std::uint32_t i) {
    auto& cell = *reinterpret_cast<std::uint64_t*>(jt::portable::call_target(view, i));
    const auto code = std::atomic_ref<std::uint64_t>{cell}.load(std::memory_order_acquire);
    return reinterpret_cast<wide_function>(code)(1, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0);
  };
  CHECK(call_cell(0) == 1.0);
  CHECK(call_cell(2) == -1.0);
}
