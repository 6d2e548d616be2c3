// slab_free_space: small blocks in slots of slabs over TLSF. The policy never
// touches code memory, so most of it is tested on made-up address ranges;
// the default allocator built on it is in test_allocators' template tests.
#include <jitcm/allocator/all.hpp>

#include <cstdint>
#include <algorithm>
#include <random>
#include <set>
#include <system_error>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "catch.hpp"
#include "fake_protection.hpp"
#include "printing.hpp"

using jitcm::address_region;
using jitcm::errc;
namespace alloc = jitcm::allocator;
using slabs = alloc::slab_free_space<alloc::tlsf_free_space>;

namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t slab_bytes = slabs::slab_granules * granule;
constexpr address_region space{std::uintptr_t{1} << 32, std::size_t{4} << 20};

}  // namespace

static_assert(alloc::free_space_policy<slabs>);
static_assert(std::is_same_v<alloc::default_allocator<>::free_space_type, slabs>);

TEST_CASE("small blocks take consecutive slots of one slab per size", "[allocator][slabs]") {
  slabs s{granule};
  REQUIRE(s.add_space(space));
  std::vector<address_region> small;
  for (int i = 0; i < 10; ++i) small.push_back(s.allocate(4 * granule));
  for (int i = 0; i < 10; ++i) {
    CHECK(small[i].begin() == space.begin() + static_cast<std::size_t>(i) * 4 * granule);
    CHECK(small[i].size() == 4 * granule);
  }
  CHECK(s.open_slabs() == 1);
  // Another size opens its own slab, after the first.
  const address_region other = s.allocate(granule);
  CHECK(other.begin() == space.begin() + slab_bytes);
  CHECK(s.open_slabs() == 2);
  // Beyond max_slot_granules, blocks come from the TLSF, after both slabs.
  const address_region big = s.allocate((slabs::max_slot_granules + 1) * granule);
  CHECK(big.begin() == space.begin() + 2 * slab_bytes);
  CHECK(s.open_slabs() == 2);
}

TEST_CASE("a full slab is followed by a new one, and an empty slab goes back to the TLSF", "[allocator][slabs]") {
  slabs s{granule};
  REQUIRE(s.add_space(space));
  const std::size_t slots = slabs::slab_granules / 3;  // 341 slots of 3 granules, 1 granule left over
  std::vector<address_region> blocks;
  for (std::size_t i = 0; i < slots; ++i) blocks.push_back(s.allocate(3 * granule));
  CHECK(blocks.back().end() == space.begin() + slots * 3 * granule);
  CHECK(s.open_slabs() == 1);
  blocks.push_back(s.allocate(3 * granule));
  CHECK(blocks.back().begin() == space.begin() + slab_bytes);
  CHECK(s.open_slabs() == 2);

  // A freed slot is the next one taken (the lowest free slot of the slab).
  REQUIRE_FALSE(s.free(blocks[7]));
  CHECK(s.allocate(3 * granule) == blocks[7]);

  std::mt19937_64 rng{3};
  std::shuffle(blocks.begin(), blocks.end(), rng);
  for (const address_region b : blocks) REQUIRE_FALSE(s.free(b));
  CHECK(s.open_slabs() == 0);
  // Everything merged again in the TLSF: one free block, the whole space.
  CHECK(s.inner().free_blocks() == 1);
  CHECK(s.allocate_in_region(space.size(), space) == space);
}

TEST_CASE("bad frees of slots are errors that change nothing", "[allocator][slabs]") {
  slabs s{granule};
  REQUIRE(s.add_space(space));
  const address_region a = s.allocate(5 * granule);
  const address_region b = s.allocate(5 * granule);
  REQUIRE(b.begin() == a.end());

  CHECK(s.free({a.begin() + granule, 4 * granule}) == errc::double_free);  // inside a slot
  CHECK(s.free({a.begin() + 8, 5 * granule}) == errc::double_free);        // misaligned
  CHECK(s.free({b.end(), 5 * granule}) == errc::double_free);              // a free slot
  CHECK(s.free({a.begin(), 6 * granule}) == errc::invalid_argument);       // another size
  const std::uintptr_t tail = space.begin() + (slabs::slab_granules / 5) * 5 * granule;
  CHECK(s.free({tail, granule}) == errc::double_free);  // the granules after the last slot

  // Freeing by address finds no live block at any of those.
  CHECK(s.free_at(a.begin() + granule).empty());
  CHECK(s.free_at(a.begin() + 8).empty());
  CHECK(s.free_at(b.end()).empty());
  CHECK(s.free_at(tail).empty());

  REQUIRE_FALSE(s.free(a));
  CHECK(s.free(a) == errc::double_free);
  CHECK(s.free_at(a.begin()).empty());
  // The slab stays open for b, and a's slot is taken again.
  CHECK(s.open_slabs() == 1);
  CHECK(s.allocate(5 * granule) == a);
  CHECK(s.free_at(b.begin()) == b);
  CHECK(s.free_at(a.begin()) == a);
  CHECK(s.open_slabs() == 0);
  CHECK(s.inner().free_blocks() == 1);
}

TEST_CASE("without room for a slab a small block comes from the TLSF", "[allocator][slabs]") {
  slabs s{granule};
  const address_region small_space{space.begin(), slab_bytes / 2};
  REQUIRE(s.add_space(small_space));
  const address_region a = s.allocate(granule);
  CHECK(a.begin() == small_space.begin());
  CHECK(s.open_slabs() == 0);
  CHECK(s.free_at(a.begin()) == a);
  CHECK(s.inner().free_blocks() == 1);
}

TEST_CASE("slabs meet at most two per window wherever the TLSF places them", "[allocator][slabs]") {
  slabs s{granule};
  REQUIRE(s.add_space(space));
  // A TLSF block of 5 granules first, so that every slab after it straddles
  // two windows; then slabs of every slot size, each found again by the
  // address of each block.
  const address_region offset = s.allocate((slabs::max_slot_granules + 5) * granule);
  REQUIRE(offset.begin() == space.begin());
  std::vector<address_region> blocks;
  for (std::size_t g = 1; g <= slabs::max_slot_granules; ++g) {
    for (int i = 0; i < 3; ++i) blocks.push_back(s.allocate(g * granule));
  }
  CHECK(s.open_slabs() == slabs::max_slot_granules);
  std::set<std::uintptr_t> starts;
  for (const address_region b : blocks) CHECK(starts.insert(b.begin()).second);
  for (const address_region b : blocks) CHECK(s.free_at(b.begin()) == b);
  CHECK(s.free_at(offset.begin()) == offset);
  CHECK(s.open_slabs() == 0);
  CHECK(s.inner().free_blocks() == 1);
}

TEST_CASE("granules larger than 64 bytes use no slabs", "[allocator][slabs]") {
  slabs s{4096};
  REQUIRE(s.add_space(space));
  const address_region a = s.allocate(4096);
  CHECK(a.begin() == space.begin());
  CHECK(s.open_slabs() == 0);
  REQUIRE_FALSE(s.free(a));
}

TEST_CASE("a refused commit gives the slot back, and the slot is taken again", "[allocator][slabs][faults]") {
  using jitcm::testing::fake_protection;
  alloc::options o;
  o.max_code_space_size = 1 << 20;
  o.min_code_space_size = 256 << 10;
  o.commit_granularity = jitcm::platform::page_size();
  o.max_spare_committed = 0;
  alloc::slab_tlsf<fake_protection> a{o};
  auto first = a.allocate(100);
  REQUIRE(first);
  const auto before = a.stats();
  // The next slot lies on the same page: commit a block on a new page.
  std::vector<jitcm::code_block> kept;
  while (true) {
    auto b = a.allocate(100);
    REQUIRE(b);
    if ((b->executable() & (jitcm::platform::page_size() - 1)) == 0) {
      REQUIRE(a.free(*b));
      break;
    }
    kept.push_back(*b);
  }
  const auto filled = a.stats();
  auto& control = fake_protection::control();
  control.commits_until_failure = 0;
  auto refused = a.allocate(100);
  control.commits_until_failure = -1;
  REQUIRE_FALSE(refused);
  CHECK(a.stats() == filled);
  auto again = a.allocate(100);
  REQUIRE(again);
  CHECK(again->executable() == kept.back().executable() + 128);
  for (const auto& b : kept) REQUIRE(a.free(b.executable()));
  REQUIRE(a.free(*again));
  CHECK(a.stats().live == before.live);
}

TEST_CASE("a slab whose window table cannot be allocated is not opened", "[allocator][slabs][faults]") {
  slabs s{granule};
  REQUIRE(s.add_space(space));
  address_region a;
  {
    jitcm::testing::fault_injector refuse{jitcm::testing::fault_injector::every_call,
                                          {jitcm::platform::fault_point::side_allocation}};
    a = s.allocate(granule);
  }
  // The block came from the TLSF, at the start, and the slab went back.
  CHECK(a == address_region{space.begin(), granule});
  CHECK(s.open_slabs() == 0);
  const address_region b = s.allocate(granule);  // now in a slab, after a
  CHECK(b.begin() == a.end());
  CHECK(s.open_slabs() == 1);
  CHECK(s.free_at(a.begin()) == a);
  CHECK(s.free_at(b.begin()) == b);
  CHECK(s.open_slabs() == 0);
  CHECK(s.inner().free_blocks() == 1);
}

TEST_CASE("slab windows find slabs across 4 GiB regions", "[allocator][slabs]") {
  jitcm::allocator::detail::slab_windows w{16};
  const std::uintptr_t boundary = std::uintptr_t{5} << 32;
  REQUIRE(w.add(boundary - 0x8000, 1, 10));  // straddles two regions
  REQUIRE(w.add(boundary + 0x8000, 2, 20));  // shares the window after the boundary
  for (const std::uintptr_t p : {boundary - 0x8000, boundary - 1, boundary, boundary + 0x7fff}) {
    REQUIRE(w.find(p) != nullptr);
    CHECK(w.find(p)->id == 1);
    CHECK(w.find(p)->tag == 10);
    CHECK(w.find(p)->begin == boundary - 0x8000);
  }
  for (const std::uintptr_t p : {boundary + 0x8000, boundary + 0x17fff}) {
    REQUIRE(w.find(p) != nullptr);
    CHECK(w.find(p)->id == 2);
  }
  CHECK(w.find(boundary + 0x18000) == nullptr);
  CHECK(w.find(boundary - 0x8001) == nullptr);
  CHECK(w.find(std::uintptr_t{9} << 32) == nullptr);
  w.remove(boundary - 0x8000);
  CHECK(w.find(boundary - 1) == nullptr);
  CHECK(w.find(boundary) == nullptr);
  CHECK(w.find(boundary + 0x8000)->id == 2);
}
