// jitcm under separate compilation (JITCM_SEPARATE_COMPILATION): a program
// of several TUs whose jitcm functions are compiled once, in
// definitions.cpp, behaves as the header-only build does: threads run code
// through its slot while another thread tiers it up, observers (defined out
// of line) hear about it, and the out-of-line functions' errors come back.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch.hpp>
#include <jitcm/observe/eh_frame.hpp>
#include <jitcm/observe/environment.hpp>
#include <jitcm/observe/symbolizer.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/trap_handler.hpp>

#include "jit.hpp"

#if !defined(JITCM_SEPARATE_COMPILATION)
#error "this test is built with JITCM_SEPARATE_COMPILATION"
#endif

using jitcm::tiering::two_tier;

namespace {

constexpr std::uint32_t baseline_value = 7, optimized_value = 42;

/// Counts what a manager tells its observers (its list is defined out of line).
struct counting_observer final : jitcm::code_observer {
  std::atomic<int> added{0};
  std::atomic<int> slots{0};
  void on_code_added(const jitcm::code&) noexcept override { ++added; }
  void on_code_freed(const jitcm::code&) noexcept override {}
  void on_jump_table_added(std::span<const jitcm::jump_table_slot> s) noexcept override {
    slots += static_cast<int>(s.size());
  }
};

}  // namespace

TEST_CASE("separately compiled: callers run a function through its slot while it is tiered up", "[separate]") {
  jitcm::code_manager manager;
  counting_observer counter;
  jitcm::observe::symbolizer symbols;
  manager.add_observer(counter);
  manager.add_observer(symbols);
  auto created = manager.new_module({.functions = 2, .lazy_entry = 1});
  REQUIRE(created);
  separate_test::module_type& module = **created;
  REQUIRE(separate_test::publish_constant(module, 0, baseline_value, two_tier::baseline));

  std::atomic<bool> stop{false};
  std::atomic<int> unexpected{0};
  std::atomic<int> optimized_seen{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      jitcm::code_manager::code_ref_scope scope;
      while (!stop.load(std::memory_order_acquire)) {
        const int value = separate_test::call(module, 0);
        if (value == static_cast<int>(optimized_value))
          ++optimized_seen;
        else if (value != static_cast<int>(baseline_value))
          ++unexpected;
      }
    });
  }
  {
    jitcm::code_manager::code_ref_scope scope;
    for (std::uint32_t round = 0; round < 50; ++round) {
      REQUIRE(separate_test::publish_constant(module, 1, round, two_tier::baseline));
      CHECK(separate_test::call(module, 1) == static_cast<int>(round));
    }
    REQUIRE(separate_test::publish_constant(module, 0, optimized_value, two_tier::optimized));
  }
  while (optimized_seen.load() == 0) std::this_thread::yield();
  stop.store(true, std::memory_order_release);
  for (std::thread& t : callers) t.join();

  CHECK(unexpected.load() == 0);
  CHECK(separate_test::call(module, 0) == static_cast<int>(optimized_value));
  CHECK(counter.added.load() == 52);
  CHECK(counter.slots.load() > 0);
  // The slot of function 1 is named by the symbolizer's out-of-line lookup
  // (on emitters with machine code; a table of pointers has no slots).
  if constexpr (jitcm::code_manager::jump_table_type::has_machine_code) {
    const std::uintptr_t slot = *module.call_target(1);
    auto symbol = symbols.symbolize(manager, slot);
    REQUIRE(symbol);
    CHECK(symbol->name == "jitcm::jump_slot[1]");
    CHECK(symbol->offset == 0);
  }
  CHECK(manager.remove_observer(counter));
  CHECK_FALSE(manager.remove_observer(counter));
  CHECK(manager.remove_observer(symbols));
}

TEST_CASE("separately compiled: out-of-line functions return their errors", "[separate]") {
  SECTION("a W^X write scope outside its space") {
    auto space = jitcm::protection::mprotect_toggle::reserve(1 << 16);
    REQUIRE(space);
    auto scope = space->begin_write({space->region().end(), 16});
    REQUIRE_FALSE(scope);
    CHECK(scope.error() == jitcm::errc::out_of_range);
    auto empty = space->begin_write({space->region().begin(), 0});
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == jitcm::errc::invalid_argument);
  }
  SECTION("malformed unwind info") {
    const std::byte truncated[] = {std::byte{0x20}, std::byte{0}, std::byte{0}};
    auto parsed = jitcm::observe::eh_frame::parse(truncated);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error() == jitcm::errc::invalid_argument);
  }
#if !defined(JITCM_OS_WINDOWS)
  SECTION("the trap handler's state lives in the definitions TU") {
    REQUIRE(jitcm::trap::install());
    CHECK(jitcm::trap::installed());
    REQUIRE(jitcm::trap::uninstall());
    CHECK_FALSE(jitcm::trap::installed());
    jitcm::trap::registration detached;
    auto refused = detached.set_landing_pad(0x1000);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == jitcm::errc::not_owned);
  }
#endif
  SECTION("environment switches") {
    CHECK(jitcm::observe::parse_environment("map", nullptr).perf_map);
    CHECK(jitcm::observe::parse_environment(nullptr, "1").gdb);
    CHECK_FALSE(jitcm::observe::parse_environment("maps", "0").perf_map);
    CHECK_FALSE(jitcm::observe::parse_environment("maps", "0").gdb);
  }
}
