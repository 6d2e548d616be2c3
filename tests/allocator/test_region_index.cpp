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
