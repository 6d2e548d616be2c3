// detail::region_index: finding the region of an address at the edges, in
// any insertion order, and after an erase.
#include <jitcm/allocator/detail/region_index.hpp>

#include <cstdint>

#include "catch.hpp"

using jitcm::address_region;
using jitcm::allocator::detail::region_index;

TEST_CASE("region_index finds the region holding an address and nothing in the gaps", "[allocator][region_index]") {
  region_index<int> x;
  REQUIRE(x.find(0x1000) == nullptr);
  x.insert({0x5000, 0x1000}, 5);
  x.insert({0x1000, 0x1000}, 1);
  x.insert({0x3000, 0x2000}, 3);  // adjacent to the one above
  REQUIRE(x.entries().size() == 3);
  REQUIRE(x.entries()[0].value == 1);
  REQUIRE(x.entries()[1].value == 3);
  REQUIRE(x.entries()[2].value == 5);
  REQUIRE(x.find(0xfff) == nullptr);
  REQUIRE(*x.find(0x1000) == 1);
  REQUIRE(*x.find(0x1fff) == 1);
  REQUIRE(x.find(0x2000) == nullptr);  // the gap
  REQUIRE(*x.find(0x3000) == 3);
  REQUIRE(*x.find(0x4fff) == 3);
  REQUIRE(*x.find(0x5000) == 5);
  REQUIRE(x.find(0x6000) == nullptr);
  REQUIRE(x.find(UINTPTR_MAX) == nullptr);
  x.erase(3);
  REQUIRE(x.find(0x3000) == nullptr);
  REQUIRE(*x.find(0x5000) == 5);
  REQUIRE(*x.find(0x1000) == 1);
  REQUIRE(x.entries().size() == 2);
}

TEST_CASE("region_index finds regions among many", "[allocator][region_index]") {
  // 1 to 100 regions of 0x1000 with 0x1000 gaps, inserted from the top down:
  // every step count of the search by halves.
  for (int count : {1, 2, 31, 32, 33, 100}) {
    region_index<int> x;
    for (int i = count - 1; i >= 0; --i) x.insert({0x10000 + 0x2000 * static_cast<std::uintptr_t>(i), 0x1000}, i);
    for (int i = 0; i < count; ++i) {
      const std::uintptr_t begin = 0x10000 + 0x2000 * static_cast<std::uintptr_t>(i);
      INFO("regions: " << count << ", region " << i);
      REQUIRE(x.find(begin) != nullptr);
      CHECK(*x.find(begin) == i);
      CHECK(*x.find(begin + 0xfff) == i);
      CHECK(x.find(begin + 0x1000) == nullptr);  // the gap after it
      CHECK(x.find(begin - 1) == nullptr);       // the gap before it
    }
    CHECK(x.find(0) == nullptr);
    CHECK(x.find(UINTPTR_MAX) == nullptr);
  }
}
