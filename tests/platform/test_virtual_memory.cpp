#include <jitcm/platform/reservation.hpp>
#include <jitcm/platform/instruction_cache.hpp>

#include <cstdio>
#include <cstring>
#include <limits>

#include "catch.hpp"
#include "child_process.hpp"

using namespace jitcm;


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
  REQUIRE(platform::release(*region));

  const std::size_t alignment = std::size_t{1} << 21;
  auto aligned = platform::reserve(page, 0, alignment);
  REQUIRE(aligned);
  CHECK(aligned->begin() % alignment == 0);
  CHECK(aligned->size() == page);
  REQUIRE(platform::release(*aligned));
}

TEST_CASE("reserve takes a hint where the OS can honour it", "[platform]") {
  auto first = platform::reserve(1 << 20);
  REQUIRE(first);
  const std::uintptr_t hint = first->begin();
  REQUIRE(platform::release(*first));
  auto second = platform::reserve(1 << 20, hint);
  REQUIRE(second);
  CHECK(second->begin() == hint);
  REQUIRE(platform::release(*second));
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
    REQUIRE(memory->release());
    CHECK(memory->is_released());
    CHECK(memory->release().error() == errc::already_released);
    CHECK(memory->commit({0, page}, platform::access::read_write).error() == errc::already_released);
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
