#include <jitcm/allocator/disjoint_pool.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "catch.hpp"
#include "printing.hpp"

using jitcm::address_region;
using jitcm::disjoint_pool;
using jitcm::errc;

namespace {

std::vector<address_region> regions_of(const disjoint_pool& pool) {
  std::vector<address_region> out;
  for (address_region r : pool.regions()) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("merge coalesces with the neighbour below and above", "[disjoint_pool]") {
  disjoint_pool pool;
  REQUIRE(pool.empty());
  REQUIRE(*pool.merge({0x1000, 0x100}) == address_region{0x1000, 0x100});
  REQUIRE(*pool.merge({0x1300, 0x100}) == address_region{0x1300, 0x100});
  REQUIRE(pool.size() == 2);
  // Fills the gap: touches both, all three become one.
  REQUIRE(*pool.merge({0x1100, 0x200}) == address_region{0x1000, 0x400});
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x1000, 0x400}});
  REQUIRE(*pool.merge({0x0f00, 0x100}) == address_region{0x0f00, 0x500});
  REQUIRE(*pool.merge({0x1400, 0x10}) == address_region{0x0f00, 0x510});
  REQUIRE(*pool.merge({0x2000, 0x10}) == address_region{0x2000, 0x10});
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x0f00, 0x510}, {0x2000, 0x10}});
}

TEST_CASE("merging an overlapping or empty region is an error and changes nothing", "[disjoint_pool]") {
  disjoint_pool pool;
  REQUIRE(pool.merge({0x1000, 0x100}));
  REQUIRE(pool.merge({0x2000, 0x100}));
  const auto before = regions_of(pool);

  for (address_region bad :
       {address_region{0x1000, 0x100}, address_region{0x0f80, 0x100}, address_region{0x10f0, 0x20},
        address_region{0x1010, 0x10}, address_region{0x0f00, 0x1200}, address_region{0x1ff0, 0x20}}) {
    auto r = pool.merge(bad);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == errc::overlapping_region);
    REQUIRE(regions_of(pool) == before);
  }
  auto empty = pool.merge({0x3000, 0});
  REQUIRE_FALSE(empty);
  REQUIRE(empty.error() == errc::invalid_argument);
  auto wrapping = pool.merge({UINTPTR_MAX - 0xf, 0x20});
  REQUIRE_FALSE(wrapping);
  REQUIRE(wrapping.error() == errc::size_overflow);
  REQUIRE(regions_of(pool) == before);
}

TEST_CASE("allocate takes from the start of the first region large enough", "[disjoint_pool]") {
  disjoint_pool pool;
  REQUIRE(pool.merge({0x1000, 0x40}));
  REQUIRE(pool.merge({0x2000, 0x100}));
  REQUIRE(pool.merge({0x3000, 0x1000}));

  REQUIRE(pool.allocate(0x80) == address_region{0x2000, 0x80});
  REQUIRE(pool.allocate(0x40) == address_region{0x1000, 0x40});  // exact fit removes the region
  REQUIRE(pool.allocate(0x100) == address_region{0x3000, 0x100});
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x2080, 0x80}, {0x3100, 0xf00}});

  // Nothing fits: empty result, pool unchanged.
  REQUIRE(pool.allocate(0x1000).empty());
  REQUIRE(pool.allocate(0).empty());
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x2080, 0x80}, {0x3100, 0xf00}});
  REQUIRE(pool.free_bytes() == 0xf80);
}

TEST_CASE("allocate_in_region takes only inside the region and may split", "[disjoint_pool]") {
  disjoint_pool pool{{0x1000, 0x1000}};
  REQUIRE(pool.allocate_in_region(0x100, {0x1800, 0x200}) == address_region{0x1800, 0x100});
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x1000, 0x800}, {0x1900, 0x700}});
  // Straddling: the part of the free region inside `within` is used.
  REQUIRE(pool.allocate_in_region(0x80, {0x0f00, 0x200}) == address_region{0x1000, 0x80});
  REQUIRE(pool.allocate_in_region(0x100, {0x1880, 0x100}) == address_region{});  // only 0x80 free inside
  REQUIRE(pool.allocate_in_region(0x100, {0x5000, 0x1000}) == address_region{});
  REQUIRE(pool.allocate_in_region(0x10, {0x1fff, 0x10}) == address_region{});  // only 1 byte inside
  REQUIRE(regions_of(pool) == std::vector<address_region>{{0x1080, 0x780}, {0x1900, 0x700}});
  REQUIRE(pool.allocate_in_region(0x700, {0, UINTPTR_MAX}) == address_region{0x1080, 0x700});
}

TEST_CASE("find names the free region holding an address", "[disjoint_pool]") {
  disjoint_pool pool{{0x1000, 0x100}};
  REQUIRE(pool.find(0x1080) == address_region{0x1000, 0x100});
  REQUIRE(pool.find(0x1100).empty());
  REQUIRE(pool.find(0x0fff).empty());
}

TEST_CASE("randomized against a byte-set model", "[disjoint_pool]") {
  // The model: the set of free granules. The pool must describe exactly it,
  // as maximal non-touching runs, and allocate first-fit from it.
  constexpr std::uintptr_t base = 0x10000;
  constexpr std::size_t granules = 512;
  constexpr std::size_t unit = 16;
  std::vector<bool> free(granules, false);
  disjoint_pool pool;
  std::vector<address_region> taken;
  std::mt19937_64 rng{12345};

  auto check = [&] {
    std::vector<address_region> expected;
    for (std::size_t g = 0; g < granules;) {
      if (!free[g]) {
        ++g;
        continue;
      }
      std::size_t e = g;
      while (e < granules && free[e]) ++e;
      expected.push_back({base + g * unit, (e - g) * unit});
      g = e;
    }
    REQUIRE(regions_of(pool) == expected);
  };

  REQUIRE(pool.merge({base, granules * unit}));
  free.assign(granules, true);
  for (int step = 0; step < 5000; ++step) {
    const int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      const std::size_t n = 1 + rng() % 24;
      // First fit in the model.
      std::size_t at = granules;
      for (std::size_t g = 0; g + n <= granules; ++g) {
        std::size_t k = 0;
        while (k < n && free[g + k]) ++k;
        if (k == n) {
          at = g;
          break;
        }
        g += k;
      }
      const address_region got = pool.allocate(n * unit);
      if (at == granules) {
        REQUIRE(got.empty());
      } else {
        REQUIRE(got == address_region{base + at * unit, n * unit});
        for (std::size_t k = 0; k < n; ++k) free[at + k] = false;
        taken.push_back(got);
      }
    } else if (op == 1 && !taken.empty()) {
      const std::size_t i = rng() % taken.size();
      const address_region r = taken[i];
      taken[i] = taken.back();
      taken.pop_back();
      REQUIRE(pool.merge(r));
      for (std::size_t g = (r.begin() - base) / unit; g < (r.end() - base) / unit; ++g) free[g] = true;
      // A second merge of the same region overlaps.
      auto again = pool.merge(r);
      REQUIRE_FALSE(again);
      REQUIRE(again.error() == errc::overlapping_region);
    } else if (op == 2) {
      const std::size_t lo = rng() % granules;
      const std::size_t len = 1 + rng() % (granules - lo);
      const std::size_t n = 1 + rng() % 8;
      std::size_t at = granules;
      for (std::size_t g = lo; g + n <= lo + len; ++g) {
        std::size_t k = 0;
        while (k < n && free[g + k]) ++k;
        if (k == n) {
          at = g;
          break;
        }
        g += k;
      }
      const address_region got = pool.allocate_in_region(n * unit, {base + lo * unit, len * unit});
      if (at == granules) {
        REQUIRE(got.empty());
      } else {
        REQUIRE(got == address_region{base + at * unit, n * unit});
        for (std::size_t k = 0; k < n; ++k) free[at + k] = false;
        taken.push_back(got);
      }
    }
    if (step % 16 == 0) check();
  }
  for (address_region r : taken) REQUIRE(pool.merge(r));
  REQUIRE(regions_of(pool) == std::vector<address_region>{{base, granules * unit}});
}
