// lookup::segment_map beyond the conformance tests every lookup gets in
// test_lookup.cpp: a differential test against a plain model over the
// layouts its two levels treat specially, error cases, reclamation, and
// readers racing writers.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/generate_n.hpp>
#include <range/v3/view/map.hpp>

#include "catch.hpp"
#include "support.hpp"

#include <jitcm/lookup/concept.hpp>
#include <jitcm/lookup/segment_map.hpp>

using jitcm::errc;
using jitcm::lookup::segment_map;
using jitcm::testing::make_code;

// ThreadSanitizer's runtime defines every operator new in a static library,
// so a test cannot replace them there; the allocation-failure test is left
// out of that build.
#if defined(__SANITIZE_THREAD__)
#define JITCM_TEST_REFUSES_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define JITCM_TEST_REFUSES_ALLOCATIONS 0
#endif
#endif
#ifndef JITCM_TEST_REFUSES_ALLOCATIONS
#define JITCM_TEST_REFUSES_ALLOCATIONS 1
#endif

#if JITCM_TEST_REFUSES_ALLOCATIONS
namespace {

// How many more nothrow allocations may succeed; negative: all of them.
std::atomic<int> nothrow_allocations_left{-1};

bool refuse_nothrow_allocation() noexcept {
  int left = nothrow_allocations_left.load();
  while (left > 0 && !nothrow_allocations_left.compare_exchange_weak(left, left - 1)) {
  }
  return left == 0;
}

}  // namespace

// jitcm allocates with nothrow new; these let a test refuse the n-th
// allocation. Memory still comes from (and goes back to) the usual operator
// new, so the usual operator delete frees it.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return refuse_nothrow_allocation() ? nullptr : ::operator new(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return refuse_nothrow_allocation() ? nullptr : ::operator new[](size);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return refuse_nothrow_allocation() ? nullptr : ::operator new(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return refuse_nothrow_allocation() ? nullptr : ::operator new[](size, alignment);
}
#endif

namespace {

using unsynchronised_map = jitcm::lookup::detail::basic_segment_map<false>;
constexpr std::uintptr_t chunk = segment_map::chunk_size;
constexpr std::uintptr_t granule = segment_map::granule_size;
// Chunk-aligned, so the layouts below straddle chunk boundaries on purpose.
constexpr std::uintptr_t base = std::uintptr_t{0x7f12} << 32;

using code_ptr = std::unique_ptr<jitcm::code>;

/// The set the lookup should hold: start address → code.
class model {
 public:
  [[nodiscard]] bool overlaps(const jitcm::code& c) const {
    const auto next = codes_.lower_bound(c.instruction_start());
    if (next != codes_.end() && next->second->instructions().overlaps(c.instructions())) return true;
    return next != codes_.begin() && std::prev(next)->second->instructions().overlaps(c.instructions());
  }
  [[nodiscard]] const jitcm::code* find(std::uintptr_t pc) const {
    auto after = codes_.upper_bound(pc);
    if (after == codes_.begin()) return nullptr;
    const jitcm::code* c = std::prev(after)->second;
    return c->contains(pc) ? c : nullptr;
  }
  void insert(const jitcm::code* c) { codes_.emplace(c->instruction_start(), c); }
  void erase(const jitcm::code* c) { codes_.erase(c->instruction_start()); }
  [[nodiscard]] const std::map<std::uintptr_t, const jitcm::code*>& codes() const { return codes_; }

 private:
  std::map<std::uintptr_t, const jitcm::code*> codes_;
};

/// Candidate code, many overlapping each other: tiny codes several to a
/// granule, unaligned and aligned ones, ones ending on a granule or chunk
/// boundary, ones spanning chunks, a few of several MiB, and some at the top
/// of the address space.
std::vector<code_ptr> make_candidates(std::minstd_rand& random) {
  std::vector<code_ptr> codes;
  const auto add = [&](std::uintptr_t begin, std::size_t size) {
    codes.push_back(make_code(begin, size, static_cast<std::uint32_t>(codes.size())));
    REQUIRE(codes.back());
  };
  const auto pick_size = [&]() -> std::size_t {
    switch (random() % 8) {
      case 0:
      case 1:
        return 1 + random() % 8;
      case 2:
        return granule - random() % 3;
      case 3:
      case 4:
        return 9 + random() % 120;
      case 5:
      case 6:
        return 64 + random() % 1024;
      default:
        return random() % 16 == 0 ? 1 + random() % (3 * chunk) : 1 + random() % 8192;
    }
  };
  for (int i = 0; i < 400; ++i) {
    // Near one of four chunk boundaries, a few granules either side.
    const std::uintptr_t boundary = base + chunk * (1 + random() % 4);
    std::uintptr_t begin = boundary - 4096 + random() % 8192;
    if (random() % 3 == 0) begin &= ~(granule - 1);
    const std::size_t size = pick_size();
    add(random() % 4 == 0 ? boundary - size + random() % 2 : begin, size);  // some end exactly on a boundary
  }
  for (std::size_t size : {1, 2, 63, 64, 65, 4096}) add(UINTPTR_MAX - size, size);  // the very top
  add(UINTPTR_MAX - chunk - 10, 20);
  add(0, 1);  // address 0 is an address like any other
  return codes;
}

/// The addresses whose answer changes around `c`.
std::vector<std::uintptr_t> edges_of(const jitcm::code& c) {
  const std::uintptr_t b = c.instruction_start(), e = c.instructions().end();
  std::vector<std::uintptr_t> pcs{b - 1, b, b + 1, e - 2, e - 1, e, e + 1};
  if (c.instructions_size() <= 2 * granule) {
    for (std::uintptr_t pc = b; pc != e; ++pc) pcs.push_back(pc);
  } else {
    const std::uintptr_t first_granule = (b + granule - 1) & ~(granule - 1);
    pcs.push_back(first_granule - 1);
    pcs.push_back(first_granule);
    pcs.push_back((e & ~(granule - 1)) - 1);
    pcs.push_back(e & ~(granule - 1));
  }
  return pcs;
}

template <class Lookup>
void expect_same(const Lookup& lookup, const model& expected, std::uintptr_t pc) {
  INFO("pc " << std::hex << pc);
  REQUIRE(lookup.find(pc) == expected.find(pc));
}

}  // namespace

static_assert(jitcm::code_lookup<segment_map>);
static_assert(segment_map::async_signal_safe);
static_assert(jitcm::code_lookup<unsynchronised_map>);

TEMPLATE_TEST_CASE("segment_map: random inserts and erases agree with a plain model at every edge", "[lookup]",
                   segment_map, unsynchronised_map) {
  std::minstd_rand random{20261125};
  const std::vector<code_ptr> candidates = make_candidates(random);
  TestType lookup;
  model expected;
  const auto any_candidate = [&] { return candidates[random() % candidates.size()].get(); };
  const auto any_pc = [&] { return base + random() % (6 * chunk); };
  for (const jitcm::code* c : ranges::views::generate_n(any_candidate, 6000)) {
    const bool present = expected.find(c->instruction_start()) == c;
    if (present) {
      REQUIRE(lookup.erase(c));
      expected.erase(c);
      auto twice = lookup.erase(c);
      REQUIRE_FALSE(twice);
      CHECK(twice.error() == errc::not_owned);
    } else {
      auto inserted = lookup.insert(c);
      if (expected.overlaps(*c)) {
        REQUIRE_FALSE(inserted);
        CHECK(inserted.error() == errc::overlapping_region);
        auto not_there = lookup.erase(c);
        REQUIRE_FALSE(not_there);
        CHECK(not_there.error() == errc::not_owned);
      } else {
        REQUIRE(inserted);
        expected.insert(c);
      }
    }
    for (std::uintptr_t pc : edges_of(*c)) expect_same(lookup, expected, pc);
    for (std::uintptr_t pc : ranges::views::generate_n(any_pc, 16)) expect_same(lookup, expected, pc);
    REQUIRE(lookup.size() == expected.codes().size());
  }
  // Everything still inserted, at every edge; then empty it.
  const auto left = expected.codes() | ranges::views::values | ranges::to<std::vector>();
  for (const jitcm::code* c : left) {
    for (std::uintptr_t pc : edges_of(*c)) expect_same(lookup, expected, pc);
  }
  for (const jitcm::code* c : left) REQUIRE(lookup.erase(c));
  CHECK(lookup.size() == 0);
  for (const auto& c : candidates) CHECK(lookup.find(c->instruction_start()) == nullptr);
  const auto used = lookup.memory_usage();
  CHECK(used.chunk_maps_in_use == 0);
  CHECK(used.records_in_use == 0);
  CHECK(used.byte_maps_in_use <= 1);  // at most the spare
}

TEST_CASE("segment_map: codes packed byte by byte, each found at each of its bytes", "[lookup]") {
  // Sizes 1..9 back to back across a chunk boundary: every granule there has
  // several codes starting inside it, so every granule needs its byte map.
  segment_map lookup;
  std::vector<code_ptr> codes;
  std::uintptr_t at = base + chunk - 300;
  for (std::uint32_t i = 0; at < base + chunk + 300; ++i) {
    codes.push_back(make_code(at, 1 + i % 9, i));
    REQUIRE(lookup.insert(codes.back().get()));
    at += 1 + i % 9;
  }
  for (const auto& c : codes) {
    for (std::uintptr_t pc = c->instruction_start(); pc < c->instructions().end(); ++pc) {
      REQUIRE(lookup.find(pc) == c.get());
    }
  }
  CHECK(lookup.find(codes.front()->instruction_start() - 1) == nullptr);
  CHECK(lookup.find(codes.back()->instructions().end()) == nullptr);
  // Erase every other one: the holes find nothing, the rest still themselves.
  for (std::size_t i = 0; i < codes.size(); i += 2) REQUIRE(lookup.erase(codes[i].get()));
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const jitcm::code* expected = i % 2 == 0 ? nullptr : codes[i].get();
    for (std::uintptr_t pc = codes[i]->instruction_start(); pc < codes[i]->instructions().end(); ++pc) {
      REQUIRE(lookup.find(pc) == expected);
    }
  }
}

TEST_CASE("segment_map: a code of several MiB is found from each chunk it covers", "[lookup]") {
  segment_map lookup;
  const auto huge = make_code(base + 123, 5 * chunk + 77, 1);
  const auto before = make_code(base + 100, 23, 2);  // ends where huge begins
  const auto after = make_code(huge->instructions().end(), 1, 3);
  REQUIRE(lookup.insert(huge.get()));
  REQUIRE(lookup.insert(before.get()));
  REQUIRE(lookup.insert(after.get()));
  for (std::uintptr_t pc = huge->instruction_start(); pc < huge->instructions().end(); pc += 4093) {
    REQUIRE(lookup.find(pc) == huge.get());
  }
  CHECK(lookup.find(huge->instructions().end() - 1) == huge.get());
  CHECK(lookup.find(huge->instruction_start() - 1) == before.get());
  CHECK(lookup.find(huge->instructions().end()) == after.get());
  CHECK(lookup.memory_usage().chunk_maps_in_use == 6);
  auto overlap = lookup.insert(make_code(base + 3 * chunk, 1, 4).get());
  REQUIRE_FALSE(overlap);
  CHECK(overlap.error() == errc::overlapping_region);
  REQUIRE(lookup.erase(huge.get()));
  CHECK(lookup.find(base + 3 * chunk) == nullptr);
  CHECK(lookup.find(before->instruction_start()) == before.get());
  CHECK(lookup.memory_usage().chunk_maps_in_use == 2);  // the chunks of before and after
}

TEST_CASE("segment_map: bad input gives an error and changes nothing", "[lookup]") {
  segment_map lookup;
  const auto a = make_code(base + chunk - 40, 80, 1);  // across a chunk boundary
  const auto tiny = make_code(base + 5, 3, 2);         // inside a granule: a byte map
  REQUIRE(lookup.insert(a.get()));
  REQUIRE(lookup.insert(tiny.get()));

  auto null_insert = lookup.insert(nullptr);
  REQUIRE_FALSE(null_insert);
  CHECK(null_insert.error() == errc::invalid_argument);
  auto null_erase = lookup.erase(nullptr);
  REQUIRE_FALSE(null_erase);
  CHECK(null_erase.error() == errc::not_owned);

  for (const auto& [begin, size] : std::vector<std::pair<std::uintptr_t, std::size_t>>{{base + chunk - 41, 2},
                                                                                       {base + chunk + 39, 1},
                                                                                       {base + chunk - 1, 2},
                                                                                       {base + chunk - 100, 200},
                                                                                       {base + 7, 1},
                                                                                       {base, 6},
                                                                                       {base + 7, 100}}) {
    auto inserted = lookup.insert(make_code(begin, size, 3).get());
    INFO("at " << std::hex << begin << " size " << std::dec << size);
    REQUIRE_FALSE(inserted);
    CHECK(inserted.error() == errc::overlapping_region);
  }
  const auto too_big = make_code(base + 64 * chunk, segment_map::max_code_size + 1, 4);
  auto refused = lookup.insert(too_big.get());
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::limit_exceeded);

  const auto twin = make_code(a->instruction_start(), a->instructions_size(), 5);
  auto wrong = lookup.erase(twin.get());
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == errc::not_owned);

  CHECK(lookup.size() == 2);
  for (std::uintptr_t pc = a->instruction_start(); pc < a->instructions().end(); ++pc) {
    REQUIRE(lookup.find(pc) == a.get());
  }
  for (std::uintptr_t pc = base; pc < base + granule; ++pc) {
    REQUIRE(lookup.find(pc) == (tiny->contains(pc) ? tiny.get() : nullptr));
  }
}

#if JITCM_TEST_REFUSES_ALLOCATIONS
TEST_CASE("segment_map: an allocation refused at any step leaves the map as it was", "[lookup]") {
  std::vector<code_ptr> resident;
  for (std::uint32_t i = 0; i < 64; ++i) resident.push_back(make_code(base + i * 128, 100, i));  // one block of records
  // Far away (new radix nodes, a new chunk map) and inside one granule
  // behind its first byte (a byte map): every kind of allocation there is.
  const auto fresh = make_code(base + (std::uintptr_t{1} << 40) + 5, 3, 99);
  // Refuse the first, the second, ... allocation of the insert, each time
  // in a map that has allocated nothing for it yet.
  int allowed = 0;
  for (;; ++allowed) {
    segment_map lookup;
    for (const auto& c : resident) REQUIRE(lookup.insert(c.get()));
    nothrow_allocations_left.store(allowed);
    auto inserted = lookup.insert(fresh.get());
    nothrow_allocations_left.store(-1);
    if (inserted) {
      CHECK(lookup.find(fresh->instruction_start() + 2) == fresh.get());
      break;
    }
    INFO("allocations allowed: " << allowed);
    CHECK(inserted.error() == errc::out_of_memory);
    CHECK(lookup.size() == resident.size());
    CHECK(lookup.find(fresh->instruction_start()) == nullptr);
    CHECK(lookup.memory_usage().chunk_maps_in_use == 1);
    for (const auto& c : resident) REQUIRE(lookup.find(c->instructions().end() - 1) == c.get());
    REQUIRE(lookup.insert(fresh.get()));  // and nothing stands in the way afterwards
  }
  // A chunk map, two radix nodes, a block of byte maps and one of records,
  // each block with its free list.
  CHECK(allowed == 7);
}
#endif

TEST_CASE("segment_map: maps no code needs any more are reused, bounded by peak use", "[lookup]") {
  segment_map lookup;
  std::vector<code_ptr> codes;
  // Round r puts 3 codes (one of them tiny, one spanning two chunks) into
  // chunks never used before; the previous round's are erased first.
  for (std::uint32_t round = 0; round < 20; ++round) {
    for (const auto& c : codes) REQUIRE(lookup.erase(c.get()));
    codes.clear();
    const std::uintptr_t at = base + round * 16 * chunk;
    codes.push_back(make_code(at + 64, 128, 1));
    codes.push_back(make_code(at + 200, 3, 2));
    codes.push_back(make_code(at + 2 * chunk - 64, 128, 3));
    for (const auto& c : codes) REQUIRE(lookup.insert(c.get()));
    for (const auto& c : codes) REQUIRE(lookup.find(c->instruction_start()) == c.get());
  }
  const auto used = lookup.memory_usage();
  CHECK(used.chunk_maps_in_use == 3);
  CHECK(used.chunk_maps_allocated == 3);
  CHECK(used.records_in_use == 3);
  CHECK(used.records_allocated == 3);
  CHECK(used.byte_maps_in_use == 1);
  CHECK(used.byte_maps_allocated == 1);
}

TEST_CASE("segment_map: readers racing writers see only code containing the pc", "[lookup][threads]") {
  // Stable code, always there, sits beside churning code that comes and
  // goes in the same granules (tiny code, so byte maps come and go too) and
  // in whole chunks of its own (so chunk maps leave level one and come back
  // for other chunks while readers may be inside them).
  segment_map lookup;
  std::vector<code_ptr> stable, churning;
  for (std::uint32_t i = 0; i < 24; ++i) {
    const std::uintptr_t at = base + i * 4096;
    stable.push_back(make_code(at, 100, i));
    churning.push_back(make_code(at + 100, 5, 100 + i));                       // right after it, same granule
    churning.push_back(make_code(at + 200, 300, 200 + i));                     // a few granules on
    churning.push_back(make_code(base + (8 + i) * chunk - 50, 100, 300 + i));  // across a chunk boundary
  }
  for (const auto& c : stable) REQUIRE(lookup.insert(c.get()));

  constexpr int readers = 2, rounds = 200;
  std::atomic<bool> done{false};
  std::atomic<long> wrong{0}, churn_seen{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      std::minstd_rand random{static_cast<unsigned>(r + 1)};
      while (!done.load()) {
        const jitcm::code& s = *stable[random() % stable.size()];
        if (lookup.find(s.instruction_start() + random() % 100) != &s) wrong.fetch_add(1);
        const jitcm::code& c = *churning[random() % churning.size()];
        for (std::uintptr_t pc : {c.instruction_start() - 1, c.instruction_start() + random() % c.instructions_size(),
                                  c.instructions().end() - 1, c.instructions().end()}) {
          const jitcm::code* found = lookup.find(pc);
          if (found == nullptr) continue;
          if (!found->contains(pc)) wrong.fetch_add(1);
          if (found == &c) churn_seen.fetch_add(1);
        }
      }
    });
  }
  // Until readers have met churning code at least once, so they did race.
  for (int round = 0; round < rounds || churn_seen.load() == 0; ++round) {
    for (const auto& c : churning) REQUIRE(lookup.insert(c.get()));
    for (const auto& c : churning) REQUIRE(lookup.erase(c.get()));
  }
  done.store(true);
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
  for (const auto& c : churning) CHECK(lookup.find(c->instruction_start()) == nullptr);
  for (const auto& c : stable) CHECK(lookup.find(c->instruction_start()) == c.get());
  // Peak use: the stable code's chunk and the 25 the boundary-crossing code
  // covers (chunks 7 to 31). Maps were reused, never allocated beyond that.
  CHECK(lookup.memory_usage().chunk_maps_allocated <= 26);
}
