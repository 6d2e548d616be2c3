#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/dual_mapping_or_mprotect.hpp>
#include <jitcm/protection/host_default.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/mprotect_toggle_single_threaded.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "../faults/process_maps.hpp"
#include "catch.hpp"
#include "child_process.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;

namespace {

std::atomic<int> protection_changes{0};
std::error_code count_changes(address_region, platform::access) noexcept {
  protection_changes.fetch_add(1, std::memory_order_relaxed);
  return {};
}

/// Counts protection changes while it lives.
struct counting_protection_changes {
  platform::protection_hook previous;
  counting_protection_changes() : previous{platform::set_protection_hook(count_changes)} { protection_changes = 0; }
  ~counting_protection_changes() { platform::set_protection_hook(previous); }
};

template <class S>
typename S::space reserved_and_committed(std::size_t pages) {
  auto space = S::reserve(pages * platform::page_size());
  REQUIRE(space);
  REQUIRE(space->commit(space->region()));
  return std::move(*space);
}

template <class Space>
void write_code(Space& space, std::uintptr_t at, std::uint32_t returned_value) {
  const example::return_constant code{returned_value};
  std::memcpy(reinterpret_cast<void*>(space.writable(at)), code.bytes.data(), code.size);
}

int call(std::uintptr_t address) { return example::function_at(address)(); }

// One write scope writes the function at `code` anew; it runs once the scope ends.
template <class Space>
void check_rewrite_runs(Space& space, std::uintptr_t code, std::uint32_t value) {
  auto scope = space.begin_write({code, 16});
  REQUIRE(scope);
  write_code(space, code, value);
  REQUIRE(scope->end());
  CHECK(call(code) == static_cast<int>(value));
}

}  // namespace

TEMPLATE_TEST_CASE("a function written through each strategy runs", "[protection]", protection::mprotect_toggle,
                   protection::dual_mapping, protection::rwx) {
  auto space = reserved_and_committed<TestType>(2);
  const std::uintptr_t first = space.region().begin();
  const std::uintptr_t second = first + platform::page_size() + 64;
  {
    auto scope = space.begin_write({first, space.region().size()});
    REQUIRE(scope);
    write_code(space, first, 42);
    write_code(space, second, 7);
  }
  CHECK(call(first) == 42);
  CHECK(call(second) == 7);
}

namespace {

template <class S>
void check_rewritten_code_runs() {
  auto space = reserved_and_committed<S>(1);
  const std::uintptr_t code = space.region().begin();
  for (std::uint32_t value : {42u, 43u}) {
    auto scope = space.begin_write({code, 64});
    REQUIRE(scope);
    write_code(space, code, value);
    REQUIRE(scope->end());
    CHECK(call(code) == static_cast<int>(value));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("code rewritten in a later scope runs in its new form", "[protection]", protection::mprotect_toggle,
                   protection::rwx) {
  check_rewritten_code_runs<TestType>();
}

// qemu-user's translation cache watches writes at the address code runs at,
// not at a second mapping of the same memory, so emulated runs skip this
// case (tag [alias-rewrite]); real CPUs see the i-cache flush.
TEST_CASE("dual-mapped code rewritten in a later scope runs in its new form", "[protection][alias-rewrite]") {
  check_rewritten_code_runs<protection::dual_mapping>();
}

TEMPLATE_TEST_CASE("code pages cannot be written at their executable address outside a scope", "[protection]",
                   protection::mprotect_toggle, protection::dual_mapping) {
  auto space = reserved_and_committed<TestType>(1);
  const std::uintptr_t code = space.region().begin();
  {
    auto scope = space.begin_write({code, 16});
    REQUIRE(scope);
    write_code(space, code, 1);
  }
  auto outcome = testing::run_in_child([&] { *reinterpret_cast<volatile std::uint8_t*>(code) = 0xCC; });
  CHECK(testing::died_of_fault(outcome));
  CHECK(call(code) == 1);
}

TEST_CASE("mprotect_toggle pages are writable inside a scope only", "[protection]") {
  auto space = reserved_and_committed<protection::mprotect_toggle>(1);
  const std::uintptr_t code = space.region().begin();
  auto write = [&] { *reinterpret_cast<volatile std::uint8_t*>(code) = 0x90; };
  {
    auto scope = space.begin_write({code, 1});
    REQUIRE(scope);
    auto inside = testing::run_in_child(write);
    CHECK(inside.exited);
    CHECK(inside.exit_code == 0);
  }
  CHECK(testing::died_of_fault(testing::run_in_child(write)));
}

TEST_CASE("dual_mapping never writes at the executable address", "[protection]") {
  auto space = reserved_and_committed<protection::dual_mapping>(1);
  const std::uintptr_t code = space.region().begin();
  CHECK(space.writable(code) != code);
  CHECK(space.writable_view().size() == space.region().size());
  // No scope needed to write the RW view; the RX view sees the bytes.
  *reinterpret_cast<std::uint8_t*>(space.writable(code)) = 0xAB;
  CHECK(*reinterpret_cast<volatile std::uint8_t*>(code) == 0xAB);
}

TEST_CASE("one protection change pair per write scope however much is written", "[protection]") {
  auto space = reserved_and_committed<protection::mprotect_toggle>(4);
  const address_region all = space.region();
  counting_protection_changes counter;
  {
    auto scope = space.begin_write(all);
    REQUIRE(scope);
    for (std::uintptr_t at = all.begin(); at + 64 <= all.end(); at += 64) {
      // Functions written one by one, each in its own nested scope, as a
      // JIT that emits a batch does.
      auto nested = space.begin_write({at, 64});
      REQUIRE(nested);
      write_code(space, at, static_cast<std::uint32_t>((at - all.begin()) / 64 % 2000));
    }
    CHECK(protection_changes == 1);
  }
  CHECK(protection_changes == 2);
  CHECK(call(all.begin() + 64 * 5) == 5);
}

TEST_CASE("dual_mapping and rwx write scopes change no protection", "[protection]") {
  auto dual = reserved_and_committed<protection::dual_mapping>(1);
  auto unsafe = reserved_and_committed<protection::rwx>(1);
  counting_protection_changes counter;
  for (int i = 0; i < 10; ++i) {
    auto a = dual.begin_write({dual.region().begin(), 8});
    auto b = unsafe.begin_write({unsafe.region().begin(), 8});
    REQUIRE(a);
    REQUIRE(b);
  }
  CHECK(protection_changes == 0);
}

TEST_CASE("a refused protection change fails the scope and leaves the space usable", "[protection]") {
  auto space = reserved_and_committed<protection::mprotect_toggle>(1);
  const std::uintptr_t code = space.region().begin();
  {
    auto scope = space.begin_write({code, 16});
    REQUIRE(scope);
    write_code(space, code, 9);
  }
  auto previous = platform::set_protection_hook(
      [](address_region, platform::access) noexcept { return std::make_error_code(std::errc::permission_denied); });
  auto refused = space.begin_write({code, 16});
  platform::set_protection_hook(previous);
  REQUIRE(!refused);
  CHECK(refused.error() == std::errc::permission_denied);

  // The failed scope released the space's write lock and left it RX.
  CHECK(call(code) == 9);
  check_rewrite_runs(space, code, 10);
}

TEMPLATE_TEST_CASE("write scopes reject regions outside the space", "[protection]", protection::mprotect_toggle,
                   protection::dual_mapping, protection::rwx) {
  auto space = reserved_and_committed<TestType>(1);
  const address_region r = space.region();
  CHECK(space.begin_write({r.end(), 8}).error() == errc::out_of_range);
  CHECK(space.begin_write({r.begin() - 8, 16}).error() == errc::out_of_range);
  CHECK(space.begin_write({r.begin(), 0}).error() == errc::invalid_argument);
  CHECK(space.commit({r.begin() + 1, platform::page_size()}).error() == errc::misaligned);
  CHECK(space.commit({r.end(), platform::page_size()}).error() == errc::out_of_range);
}

TEST_CASE("data pages stay writable and never execute", "[protection]") {
  auto space = protection::mprotect_toggle::reserve(2 * platform::page_size());
  REQUIRE(space);
  const address_region data{space->region().begin() + platform::page_size(), platform::page_size()};
  REQUIRE(space->commit({space->region().begin(), platform::page_size()}));
  REQUIRE(space->commit_data(data));
  *reinterpret_cast<volatile std::uint64_t*>(space->writable(data.begin())) = 0x1234;
  CHECK(*reinterpret_cast<volatile std::uint64_t*>(data.begin()) == 0x1234);
}

TEST_CASE("decommitted dual-mapped pages come back zeroed", "[protection]") {
  auto space = reserved_and_committed<protection::dual_mapping>(2);
  const address_region page{space.region().begin(), platform::page_size()};
  *reinterpret_cast<std::uint32_t*>(space.writable(page.begin())) = 0xDEADBEEF;
  REQUIRE(space.decommit(page));
  REQUIRE(space.commit(page));
  CHECK(*reinterpret_cast<volatile std::uint32_t*>(page.begin()) == 0);
}

TEST_CASE("threads writing one mprotect_toggle space take turns", "[protection]") {
  auto space = reserved_and_committed<protection::mprotect_toggle>(4);
  const address_region all = space.region();
  constexpr int threads = 4;
  constexpr int rounds = 50;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      const std::uintptr_t at = all.begin() + static_cast<std::uintptr_t>(t) * platform::page_size();
      for (int i = 0; i < rounds; ++i) {
        auto scope = space.begin_write({at, 16});
        REQUIRE(scope);
        write_code(space, at, static_cast<std::uint32_t>(t * 100 + i));
      }
    });
  }
  for (auto& w : writers) w.join();
  for (int t = 0; t < threads; ++t) {
    CHECK(call(all.begin() + static_cast<std::uintptr_t>(t) * platform::page_size()) == t * 100 + rounds - 1);
  }
}

namespace {

/// What the probe says of S agrees with what S does: allowed means code
/// written through it runs; refused means reserving or committing fails.
template <class S>
void check_probe_verdict(std::error_code verdict) {
  auto space = S::reserve(platform::page_size());
  if (verdict) {
    CHECK((!space || !space->commit(space->region())));
    return;
  }
  REQUIRE(space);
  REQUIRE(space->commit(space->region()));
  {
    auto scope = space->begin_write(space->region());
    REQUIRE(scope);
    write_code(*space, space->region().begin(), 5);
  }
  CHECK(call(space->region().begin()) == 5);
}

}  // namespace

TEST_CASE("the probe finds the strategies this process may use", "[protection]") {
  const protection::availability found = protection::probe();
  // mprotect toggling needs only anonymous memory made executable, which
  // any system that runs JITs (and these tests) allows.
  CHECK(!found.mprotect_toggle);
  check_probe_verdict<protection::mprotect_toggle>(found.mprotect_toggle);
  check_probe_verdict<protection::dual_mapping>(found.dual_mapping);
  check_probe_verdict<protection::rwx>(found.rwx);
  static_assert(protection::strategy<protection::host_default>);
  static_assert(protection::strategy<protection::mprotect_toggle_single_threaded>);
#if defined(JITCM_HAS_DUAL_MAPPING)
  static_assert(protection::strategy<protection::dual_mapping_or_mprotect>);
  static_assert(protection::strategy<protection::dual_mapping>);
#endif
  static_assert(protection::strategy<protection::mprotect_toggle>);
}

TEST_CASE("mprotect_toggle opens no write scope over pages not committed as code", "[protection][faults]") {
  const std::size_t page = platform::page_size();
  auto space = protection::mprotect_toggle::reserve(3 * page);
  REQUIRE(space);
  const address_region code{space->region().begin(), page};
  const address_region data{code.end(), page};
  const address_region reserved{data.end(), page};
  REQUIRE(space->commit(code));
  REQUIRE(space->commit_data(data));

  for (const address_region r :
       {reserved, data, address_region{code.begin(), 3 * page}, address_region{data.end() - 8, 16}}) {
    auto scope = space->begin_write(r);
    REQUIRE(!scope);
    CHECK(scope.error() == errc::not_committed);
  }
  // Nothing changed: reserved pages inaccessible, data read-write, code RX.
  CHECK(testing::access_at(reserved.begin()) == "---p");
  CHECK(testing::access_at(data.begin()) == "rw-p");
  CHECK(testing::access_at(code.begin()) == "r-xp");

  REQUIRE(space->begin_write(code));
  REQUIRE(space->decommit(code));
  CHECK(space->begin_write(code).error() == errc::not_committed);
}

TEST_CASE("mprotect_toggle refuses writes and code while pages it could not make RX again stay RW",
          "[protection][faults]") {
  auto space = reserved_and_committed<protection::mprotect_toggle>(1);
  const std::uintptr_t code = space.region().begin();
  {
    auto scope = space.begin_write({code, 16});
    REQUIRE(scope);
    write_code(space, code, 1);
  }
  {
    auto scope = space.begin_write({code, 16});
    REQUIRE(scope);
    write_code(space, code, 2);
    testing::fault_injector refuse{testing::fault_injector::every_call, {platform::fault_point::protect}};
    auto ended = scope->end();
    REQUIRE(!ended);
    CHECK(ended.error() == std::error_code{EACCES, std::system_category()});
    CHECK(testing::access_at(code) == "rw-p");
    // While the OS keeps refusing, the space says why it takes no code.
    CHECK(space.ready().error() == errc::space_unusable);
    CHECK(space.begin_write({code, 16}).error() == errc::space_unusable);
    CHECK(testing::access_at(code) == "rw-p");
  }
  // The next use makes the pages RX again, and the code runs.
  REQUIRE(space.ready());
  CHECK(testing::access_at(code) == "r-xp");
  CHECK(call(code) == 2);
  check_rewrite_runs(space, code, 3);
}
