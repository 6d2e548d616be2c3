#include <jitcm/platform/dual_mapping.hpp>
#include <jitcm/platform/reservation.hpp>
#include <jitcm/platform/instruction_cache.hpp>

#include <fcntl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <limits>

#include "../faults/fault_injector.hpp"
#include "catch.hpp"
#include "child_process.hpp"

using namespace jitcm;
using jitcm::testing::fault_injector;
using fault = jitcm::platform::fault_point;

namespace {

std::size_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  REQUIRE(std::fscanf(statm, "%lu %lu", &size, &resident) == 2);
  std::fclose(statm);
  return resident * platform::page_size();
}

}  // namespace

TEST_CASE("reserve rounds up to pages and honours alignment", "[platform]") {
  const std::size_t page = platform::page_size();
  auto region = platform::reserve(page + 1);
  REQUIRE(region);
  CHECK(region->size() == 2 * page);
  CHECK(region->begin() % page == 0);
  REQUIRE(platform::unmap(*region));

  const std::size_t alignment = std::size_t{1} << 21;
  auto aligned = platform::reserve(page, 0, alignment);
  REQUIRE(aligned);
  CHECK(aligned->begin() % alignment == 0);
  CHECK(aligned->size() == page);
  REQUIRE(platform::unmap(*aligned));
}

TEST_CASE("reserve takes a hint where the OS can honour it", "[platform]") {
  auto first = platform::reserve(1 << 20);
  REQUIRE(first);
  const std::uintptr_t hint = first->begin();
  REQUIRE(platform::unmap(*first));
  auto second = platform::reserve(1 << 20, hint);
  REQUIRE(second);
  CHECK(second->begin() == hint);
  REQUIRE(platform::unmap(*second));
}

TEST_CASE("reserved pages are inaccessible until committed", "[platform]") {
  auto memory = platform::reservation::reserve(platform::page_size());
  REQUIRE(memory);
  const std::uintptr_t page = memory->region().begin();
  auto untouched = testing::run_in_child([&] { *reinterpret_cast<volatile char*>(page) = 1; });
  CHECK(testing::died_of_fault(untouched));

  REQUIRE(memory->commit(memory->region(), platform::access::read_write));
  auto touched = testing::run_in_child([&] { *reinterpret_cast<volatile char*>(page) = 1; });
  CHECK(touched.exited);
  CHECK(touched.exit_code == 0);
  CHECK(*reinterpret_cast<volatile char*>(page) == 0);
}

TEST_CASE("decommit gives touched memory back to the OS", "[platform]") {
  const std::size_t bytes = std::size_t{64} << 20;
  auto memory = platform::reservation::reserve(bytes);
  REQUIRE(memory);
  REQUIRE(memory->commit(memory->region(), platform::access::read_write));
  std::memset(memory->region().pointer(), 0x5A, bytes);
  const std::size_t touched = resident_bytes();

  REQUIRE(memory->decommit(memory->region()));
  const std::size_t after = resident_bytes();
  CHECK(touched - after >= bytes - bytes / 8);

  // Committed again, the pages read as zero: the old contents are gone.
  REQUIRE(memory->commit(memory->region(), platform::access::read_write));
  CHECK(*memory->region().pointer<volatile unsigned char>() == 0);
}

TEST_CASE("bad arguments are rejected before reaching the OS", "[platform]") {
  const std::size_t page = platform::page_size();

  SECTION("zero size") {
    auto r = platform::reserve(0);
    REQUIRE(!r);
    CHECK(r.error() == errc::invalid_argument);
  }
  SECTION("size overflow") {
    auto r = platform::reserve(std::numeric_limits<std::size_t>::max() - 1);
    REQUIRE(!r);
    CHECK(r.error() == errc::size_overflow);
  }
  SECTION("alignment that is not a power of two") {
    auto r = platform::reserve(page, 0, 3 * page);
    REQUIRE(!r);
    CHECK(r.error() == errc::misaligned);
  }
  SECTION("more address space than exists") {
    auto r = platform::reserve(std::size_t{1} << 62);
    REQUIRE(!r);
    CHECK(r.error() == errc::address_space_exhausted);
  }
  SECTION("unaligned, empty and foreign regions on a reservation") {
    auto memory = platform::reservation::reserve(4 * page);
    REQUIRE(memory);
    const std::uintptr_t base = memory->region().begin();
    REQUIRE(memory->commit({base, page}, platform::access::read_write));
    *reinterpret_cast<volatile char*>(base) = 7;

    CHECK(memory->commit({base + 1, page}, platform::access::read_write).error() == errc::misaligned);
    CHECK(memory->commit({base, page + 1}, platform::access::read_write).error() == errc::misaligned);
    CHECK(memory->commit({base, 0}, platform::access::read_write).error() == errc::invalid_argument);
    CHECK(memory->commit({base + 4 * page, page}, platform::access::read_write).error() == errc::out_of_range);
    CHECK(memory->commit({base - page, 2 * page}, platform::access::read_write).error() == errc::out_of_range);
    CHECK(memory->decommit({base + 3 * page, 2 * page}).error() == errc::out_of_range);
    CHECK(memory->protect({base, 8 * page}, platform::access::read).error() == errc::out_of_range);
    CHECK(platform::commit({0, page}, platform::access::read_write).error() == errc::invalid_argument);

    // Nothing changed: the committed page keeps its contents and access.
    CHECK(*reinterpret_cast<volatile char*>(base) == 7);
    *reinterpret_cast<volatile char*>(base) = 8;
  }
  SECTION("double release") {
    auto memory = platform::reservation::reserve(page);
    REQUIRE(memory);
    REQUIRE(memory->unmap());
    CHECK(memory->is_unmapped());
    CHECK(memory->unmap().error() == errc::already_unmapped);
    CHECK(memory->commit({0, page}, platform::access::read_write).error() == errc::already_unmapped);
  }
}

TEST_CASE("a refused protection change is reported and changes nothing", "[platform]") {
  auto memory = platform::reservation::reserve(platform::page_size());
  REQUIRE(memory);
  REQUIRE(memory->commit(memory->region(), platform::access::read_write));
  *memory->region().pointer<volatile char>() = 3;

  auto previous = platform::set_protection_hook(
      [](address_region, platform::access) noexcept { return std::make_error_code(std::errc::permission_denied); });
  auto refused = memory->protect(memory->region(), platform::access::read);
  platform::set_protection_hook(previous);

  REQUIRE(!refused);
  CHECK(refused.error() == std::errc::permission_denied);
  *memory->region().pointer<volatile char>() = 4;  // still writable
  CHECK(*memory->region().pointer<volatile char>() == 4);
}

TEST_CASE("instruction streams can be synchronised across threads", "[platform]") {
  auto synced = platform::synchronize_instruction_streams();
  if (!synced) CHECK(synced.error() == errc::unsupported);
  platform::flush_instruction_cache(0, 0);  // an empty range is a no-op
}

namespace {

std::error_code system_error(int value) { return {value, std::system_category()}; }

bool write_faults(std::uintptr_t address) {
  return testing::died_of_fault(testing::run_in_child([address] { *reinterpret_cast<volatile char*>(address) = 1; }));
}

}  // namespace

TEST_CASE("the fault hook refuses each call with the error given and the OS is not asked", "[platform][faults]") {
  const std::size_t page = platform::page_size();
  SECTION("reserve: ENOMEM is exhausted address space, other errors keep their errno") {
    {
      fault_injector refuse{fault_injector::every_call, {fault::reserve}};
      auto r = platform::reserve(page);
      REQUIRE(!r);
      CHECK(r.error() == errc::address_space_exhausted);
    }
    fault_injector refuse{fault_injector::every_call, {fault::reserve}, system_error(EPERM)};
    auto r = platform::reserve(page);
    REQUIRE(!r);
    CHECK(r.error() == system_error(EPERM));
  }
  SECTION("commit, protect, decommit and release leave the pages as they were") {
    auto memory = platform::reservation::reserve(2 * page);
    REQUIRE(memory);
    const address_region first{memory->region().begin(), page};
    const address_region second{first.end(), page};
    REQUIRE(memory->commit(first, platform::access::read_write));
    *first.pointer<volatile char>() = 5;
    {
      fault_injector refuse{fault_injector::every_call, {fault::commit, fault::protect, fault::decommit, fault::unmap}};
      CHECK(memory->commit(second, platform::access::read_write).error() == system_error(ENOMEM));
      CHECK(memory->protect(first, platform::access::read).error() == system_error(EACCES));
      CHECK(memory->decommit(first).error() == system_error(ENOMEM));
      CHECK(memory->unmap().error() == system_error(ENOMEM));
      CHECK(!memory->is_unmapped());
    }
    CHECK(write_faults(second.begin()));
    CHECK(*first.pointer<volatile char>() == 5);
    *first.pointer<volatile char>() = 6;  // still writable
    REQUIRE(memory->unmap());
  }
  SECTION("side allocations") {
    CHECK(!jitcm::detail::side_allocation_refused());
    fault_injector refuse{2, {fault::side_allocation}};
    CHECK(!jitcm::detail::side_allocation_refused());
    CHECK(jitcm::detail::side_allocation_refused());
    CHECK(!jitcm::detail::side_allocation_refused());
  }
}

TEST_CASE("the protection hook still sees commits and protection changes beside the fault hook", "[platform][faults]") {
  static std::atomic<int> seen{0};
  seen = 0;
  auto memory = platform::reservation::reserve(platform::page_size());
  REQUIRE(memory);
  const auto previous = platform::set_protection_hook([](address_region, platform::access) noexcept {
    ++seen;
    return std::error_code{};
  });
  {
    fault_injector count_only{0};
    REQUIRE(memory->commit(memory->region(), platform::access::read_write));
    REQUIRE(memory->protect(memory->region(), platform::access::read));
    REQUIRE(memory->decommit(memory->region()));
    CHECK(fault_injector::calls() == 3);
  }
  platform::set_protection_hook(previous);
  CHECK(seen == 2);
}

TEST_CASE("a reservation whose release is refused when it is destroyed keeps no memory", "[platform][faults]") {
  std::uintptr_t page = 0;
  {
    auto memory = platform::reservation::reserve(platform::page_size());
    REQUIRE(memory);
    page = memory->region().begin();
    REQUIRE(memory->commit(memory->region(), platform::access::read_write));
    *reinterpret_cast<volatile char*>(page) = 1;
    fault_injector refuse{fault_injector::every_call, {fault::unmap}};
    memory = platform::reservation{};  // the move assignment releases the old one
  }
  CHECK(write_faults(page));
  REQUIRE(platform::unmap({page, platform::page_size()}));  // the address space it leaked
}

#if defined(JITCM_HAS_DUAL_MAPPING)

TEST_CASE("running out of descriptors is EMFILE, not unsupported", "[platform][faults]") {
  SECTION("refused by the hook") {
    fault_injector refuse{fault_injector::every_call, {fault::create_shared_memory}};
    auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
    REQUIRE(!dual);
    CHECK(dual.error() == system_error(EMFILE));
  }
  SECTION("refused by the kernel") {
    auto outcome = testing::run_in_child([] {
      const rlimit low{32, 32};
      if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(2);
      const int any = ::open("/dev/null", O_RDONLY);
      while (any >= 0 && ::dup(any) >= 0) {
      }
      auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
      ::_exit(!dual && dual.error() == system_error(EMFILE) ? 0 : 1);
    });
    CHECK(outcome.exited);
    CHECK(outcome.exit_code == 0);
  }
}

TEST_CASE("a dual mapping keeps the cause of every refusal", "[platform][faults]") {
  const auto [point, expected] = GENERATE(table<fault, std::error_code>({
      {fault::resize_shared_memory, std::error_code{ENOSPC, std::system_category()}},
      {fault::map_shared_memory, std::error_code{ENOMEM, std::system_category()}},
      {fault::reserve, make_error_code(errc::address_space_exhausted)},
  }));
  fault_injector refuse{fault_injector::every_call, {point}};
  auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
  REQUIRE(!dual);
  CHECK(dual.error() == expected);
}

TEST_CASE("a dual mapping is unsupported only when no kind of shared memory may execute", "[platform][faults]") {
  fault_injector forbid{fault_injector::every_call, {fault::map_shared_memory}, system_error(EACCES)};
  auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
  REQUIRE(!dual);
  CHECK(dual.error() == errc::unsupported);
}

TEST_CASE("a dual-mapped commit or decommit changes both views or neither", "[platform][faults]") {
  const std::size_t page = platform::page_size();
  auto dual = platform::dual_mapped_reservation::reserve(2 * page);
  REQUIRE(dual);
  const address_region kept{dual->executable().begin(), page};
  const address_region other{kept.end(), page};
  REQUIRE(dual->commit(kept));
  *reinterpret_cast<volatile char*>(kept.begin() + dual->write_offset()) = 9;

  // The second view's commit refused: the first is inaccessible again.
  {
    fault_injector refuse{2, {fault::commit}};
    CHECK(!dual->commit(other));
  }
  CHECK(write_faults(other.begin() + dual->write_offset()));
  CHECK(testing::died_of_fault(testing::run_in_child([&] { (void)*reinterpret_cast<volatile char*>(other.begin()); })));

  // Any step of a decommit refused: both views still work.
  for (long k = 1; k <= 3; ++k) {
    fault_injector refuse{k, {fault::decommit, fault::protect}};
    CHECK(!dual->decommit(kept));
    refuse.disarm();
    *reinterpret_cast<volatile char*>(kept.begin() + dual->write_offset()) = static_cast<char>(k);
    CHECK(*reinterpret_cast<volatile char*>(kept.begin()) == static_cast<char>(k));
  }
  REQUIRE(dual->decommit(kept));
  CHECK(write_faults(kept.begin() + dual->write_offset()));
}

#endif
