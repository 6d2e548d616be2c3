// libFuzzer target: disjoint_pool against a model that keeps one flag per
// granule of a small arena. Every input is a sequence of merge, allocate and
// allocate_in_region calls; after each the pool must list exactly the
// model's free runs, and every call must answer as the model says.
#include <jitcm/allocator/disjoint_pool.hpp>

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_input.hpp"

namespace {

constexpr std::size_t granules = 256;
constexpr std::size_t unit = 8;
constexpr std::uintptr_t base = 0x4000;

using jitcm::fuzz::expect;
using jitcm::fuzz::reader;

std::uintptr_t address_of(std::size_t g) { return base + g * unit; }

// The lowest g in [lo, hi) with n free granules from g, or hi.
std::size_t first_fit(const std::bitset<granules>& free, std::size_t lo, std::size_t hi, std::size_t n) {
  std::size_t run = 0;
  for (std::size_t g = lo; g < hi; ++g) {
    run = free[g] ? run + 1 : 0;
    if (run == n) return g + 1 - n;
  }
  return hi;
}

void check(const jitcm::disjoint_pool& pool, const std::bitset<granules>& free) {
  std::size_t g = 0;
  auto it = pool.regions().begin();
  const auto end = pool.regions().end();
  while (g < granules) {
    if (!free[g]) {
      ++g;
      continue;
    }
    std::size_t e = g;
    while (e < granules && free[e]) ++e;
    expect(it != end);
    expect(*it == jitcm::address_region{address_of(g), (e - g) * unit});
    ++it;
    g = e;
  }
  expect(it == end);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  jitcm::disjoint_pool pool;
  std::bitset<granules> free;
  while (!in.done()) {
    const std::size_t op = in.next() % 3;
    if (op == 0) {
      const std::size_t g = in.next() % granules;
      const std::size_t n = in.next() % (granules - g + 1);
      auto merged = pool.merge({address_of(g), n * unit});
      bool overlaps = false;
      for (std::size_t k = g; k < g + n; ++k) overlaps = overlaps || free[k];
      if (n == 0) {
        expect(!merged && merged.error() == jitcm::errc::invalid_argument);
      } else if (overlaps) {
        expect(!merged && merged.error() == jitcm::errc::overlapping_region);
      } else {
        expect(static_cast<bool>(merged));
        for (std::size_t k = g; k < g + n; ++k) free[k] = true;
        // The merged region is the whole free run now holding [g, g + n).
        std::size_t lo = g;
        while (lo > 0 && free[lo - 1]) --lo;
        std::size_t hi = g + n;
        while (hi < granules && free[hi]) ++hi;
        expect(*merged == jitcm::address_region{address_of(lo), (hi - lo) * unit});
      }
    } else if (op == 1) {
      const std::size_t n = in.next() % 64;
      const jitcm::address_region got = pool.allocate(n * unit);
      const std::size_t at = n == 0 ? granules : first_fit(free, 0, granules, n);
      if (at == granules) {
        expect(got.empty());
      } else {
        expect(got == jitcm::address_region{address_of(at), n * unit});
        for (std::size_t k = at; k < at + n; ++k) free[k] = false;
      }
    } else {
      const std::size_t lo = in.next() % granules;
      const std::size_t len = in.next() % (granules - lo + 1);
      const std::size_t n = in.next() % 32;
      const jitcm::address_region got = pool.allocate_in_region(n * unit, {address_of(lo), len * unit});
      const std::size_t at = n == 0 ? lo + len : first_fit(free, lo, lo + len, n);
      if (at == lo + len) {
        expect(got.empty());
      } else {
        expect(got == jitcm::address_region{address_of(at), n * unit});
        for (std::size_t k = at; k < at + n; ++k) free[k] = false;
      }
    }
    check(pool, free);
  }
  return 0;
}
