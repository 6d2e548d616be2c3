// Every allocator against the reference model, over a pretend address space
// whose committed pages the test can see; and every failure path.
#include <jitcm/allocator/all.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <system_error>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "catch.hpp"
#include "fake_protection.hpp"
#include "model.hpp"

using jitcm::address_region;
using jitcm::code_block;
using jitcm::errc;
using jitcm::testing::allocator_model;
using jitcm::testing::fake_protection;

namespace alloc = jitcm::allocator;

using fake_pool = alloc::pool<fake_protection>;
using fake_tlsf = alloc::tlsf<fake_protection>;
using fake_slab = alloc::slab_tlsf<fake_protection>;
using fake_bump = alloc::bump<fake_protection>;

static_assert(jitcm::code_allocator<fake_pool>);
static_assert(jitcm::code_allocator<fake_tlsf>);
static_assert(jitcm::code_allocator<fake_bump>);
static_assert(jitcm::code_allocator<alloc::default_allocator<>>);
static_assert(jitcm::code_allocator<fake_slab>);
static_assert(std::is_same_v<alloc::default_allocator<>, alloc::slab_tlsf<jitcm::protection::host_default>>);

namespace {

template <class A>
constexpr bool reuses_memory = A::free_space_type::returns_memory;

// Whether the allocator offers free(executable address).
template <class A>
constexpr bool frees_by_address = requires(A& a, std::uintptr_t p) {
  a.free(p);
};

template <class A>
constexpr bool is_pool = std::is_same_v<typename A::free_space_type, alloc::pool_free_space>;

const std::size_t page = jitcm::platform::page_size();

// What a reservation of `bytes` takes: whole allocation granules (the page
// size, except on Windows, where reservations come in 64 KiB).
std::size_t reserved(std::size_t bytes) {
  return *jitcm::platform::round_up(bytes, jitcm::platform::allocation_granularity());
}

// Bytes from a space's start to the end of its headers' pages.
template <class A>
std::size_t headers_end_offset(const A& a) {
  const jitcm::code_space& s = a.code_spaces()[0];
  if (!s.data_header.empty()) return s.data_header.end() - s.region.begin();
  return (s.code_header.size() + page - 1) & ~(page - 1);
}

alloc::options small_spaces(std::size_t commit_granularity = jitcm::platform::page_size()) {
  alloc::options o;
  o.commit_granularity = commit_granularity;
  o.alignment = 64;
  o.max_code_space_size = 1 << 20;
  o.min_code_space_size = 256 << 10;
  o.space_code_header = 100;
  o.space_data_header = 10;
  o.max_spare_committed = 0;  // exact commit and decommit per unit; tests of the spare units set it
  return o;
}

// Committed pages the strategy reports, against what the model says must be:
// every commit unit under a live block and every unit holding headers
// committed; the others committed are the spare ones the statistics report,
// for allocators that return memory no more than max_spare_committed.
template <class A>
void check_pages(const A& a, const allocator_model& model) {
  const std::size_t unit = std::bit_ceil(std::max(a.config().commit_granularity, page));
  std::size_t committed = 0;
  std::size_t spare = 0;
  for (std::size_t i = 0; i < a.code_spaces().size(); ++i) {
    const jitcm::code_space& s = a.code_spaces()[i];
    const fake_protection::space& memory = a.space(i);
    committed += memory.committed_bytes();
    const std::uintptr_t headers_end = !s.data_header.empty()  ? s.data_header.end()
                                       : s.code_header.empty() ? s.region.begin()
                                                               : (s.code_header.end() + page - 1) & ~(page - 1);
    const std::uintptr_t pinned_end =
        s.region.begin() + std::min(s.region.size(), (headers_end - s.region.begin() + unit - 1) & ~(unit - 1));
    for (std::uintptr_t p = s.region.begin(); p < s.region.end(); p += page) {
      if (s.data_header.contains(p)) continue;  // data pages: counted in committed_bytes
      const std::uintptr_t unit_begin = s.region.begin() + ((p - s.region.begin()) & ~(unit - 1));
      const std::size_t unit_size = std::min<std::size_t>(unit, s.region.end() - unit_begin);
      const bool used = p < pinned_end || model.page_in_use(unit_begin, unit_size);
      if (used)
        REQUIRE(memory.committed_code(p));
      else if (memory.committed_code(p))
        spare += page;
    }
  }
  REQUIRE(a.stats().committed == committed);
  REQUIRE(a.stats().spare == spare);
  // Bulk decommits at most once every decommit_interval frees may leave
  // more spare for a while; see the tests of the interval.
  if constexpr (reuses_memory<A>) {
    if (a.config().decommit_interval == 0) REQUIRE(spare <= a.config().max_spare_committed);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("randomized differential test against the reference model", "[allocator]", fake_pool, fake_tlsf,
                   fake_slab, fake_bump) {
  // Page-sized units, 16-page units, and units larger than a space.
  const std::size_t granularity = GENERATE(std::size_t{0}, std::size_t{16} << 12, std::size_t{4} << 20);
  const bool headers = GENERATE(true, false);  // without headers, code areas of touching spaces touch too
  // Units decommitted as they empty, or kept spare up to 24 pages.
  const std::size_t spare_limit = GENERATE(std::size_t{0}, std::size_t{24} << 12);
  // Bulk decommits whenever spare passes the limit, or at most every 50 frees.
  const std::size_t interval = GENERATE(std::size_t{0}, std::size_t{50});
  alloc::options o = small_spaces(granularity);
  o.max_spare_committed = spare_limit;
  o.decommit_interval = interval;
  if (!headers) {
    o.space_code_header = 0;
    o.space_data_header = 0;
  }
  TestType a{o};
  allocator_model model;
  std::vector<code_block> live;
  std::mt19937_64 rng{20261124};

  for (int step = 0; step < 4000; ++step) {
    const unsigned op = static_cast<unsigned>(rng() % 100);
    if (op < 55 || live.empty()) {
      const std::size_t bytes = rng() % 16 == 0 ? 1 + rng() % 150000 : 1 + rng() % 3000;
      const std::size_t size = (bytes + 63) & ~std::size_t{63};
      // What the allocator must do without growing, by the model.
      const std::size_t spaces_before = a.code_spaces().size();
      bool fits = false;
      std::uintptr_t expected = 0;
      if constexpr (std::is_same_v<TestType, fake_bump>) {
        // Fits only in the newest space's rest, which the model cannot see;
        // checked through growth below instead.
      } else {
        for (const jitcm::code_space& s : a.code_spaces()) {
          if (model.largest_gap(s.code) >= size) {
            fits = true;
            if (expected == 0) expected = model.first_fit(s.code, size);
          }
        }
      }
      auto b = a.allocate(bytes);
      REQUIRE(b);
      jitcm::testing::check_placement(a, *b, bytes);
      if constexpr (!std::is_same_v<TestType, fake_bump>) {
        // A space is reserved only when no free run is large enough. With
        // slabs, free slots serve their own size only: a space may also be
        // reserved while a run of free slots of another size would fit.
        if constexpr (std::is_same_v<TestType, fake_slab>) {
          if (!fits) REQUIRE(a.code_spaces().size() != spaces_before);
        } else {
          REQUIRE((a.code_spaces().size() == spaces_before) == fits);
        }
        // V8's first fit picks exactly the lowest free run.
        if constexpr (is_pool<TestType>) {
          if (fits) REQUIRE(b->executable() == expected);
        }
      }
      if (a.code_spaces().size() != spaces_before) REQUIRE(b->executable() == a.code_spaces().back().code.begin());
      model.add(*b);
      live.push_back(*b);
    } else if (op < 92) {
      const std::size_t i = rng() % live.size();
      const code_block b = live[i];
      live[i] = live.back();
      live.pop_back();
      // Half the frees name only the executable address where the policy
      // can find the block's size itself.
      if constexpr (frees_by_address<TestType>) {
        if (rng() % 2 == 0) {
          REQUIRE(a.free(b.executable()));
        } else {
          REQUIRE(a.free(b));
        }
        auto again = a.free(b.executable());
        REQUIRE_FALSE(again);
        REQUIRE(again.error() == errc::double_free);
      } else {
        REQUIRE(a.free(b));
      }
      model.remove(b);
      auto again = a.free(b);
      REQUIRE_FALSE(again);
      REQUIRE(again.error() == errc::double_free);
    } else {
      // allocate_in_region: a random window of a random space.
      const auto& spaces = a.code_spaces();
      const jitcm::code_space& s = spaces[rng() % spaces.size()];
      const std::uintptr_t begin = s.code.begin() + rng() % s.code.size();
      const address_region within{begin, 1 + rng() % (s.code.end() - begin)};
      const std::size_t bytes = 1 + rng() % 2000;
      const std::size_t size = (bytes + 63) & ~std::size_t{63};
      const std::size_t spaces_before = spaces.size();
      auto b = a.allocate_in_region(bytes, within);
      REQUIRE(a.code_spaces().size() == spaces_before);
      if constexpr (!std::is_same_v<TestType, fake_bump>) {
        // Aligned window inside `within`, then the model's first fit there.
        const std::uintptr_t lo = (within.begin() + 63) & ~std::uintptr_t{63};
        const std::uintptr_t hi = within.end() & ~std::uintptr_t{63};
        const std::uintptr_t expected = hi > lo ? model.first_fit({lo, hi - lo}, size) : 0;
        if (expected == 0) {
          REQUIRE_FALSE(b);
          REQUIRE(b.error() == errc::out_of_memory);
        } else if constexpr (std::is_same_v<TestType, fake_slab>) {
          // Free slots are live to the TLSF under the slabs: the first fit
          // outside them, if any.
          if (b) REQUIRE(b->executable() >= expected);
        } else {
          REQUIRE(b);
          REQUIRE(b->executable() == expected);
        }
      }
      if (b) {
        REQUIRE(within.contains(b->region()));
        jitcm::testing::check_placement(a, *b, bytes);
        model.add(*b);
        live.push_back(*b);
      }
    }
    jitcm::testing::check_stats(a, model);
    if (step % 97 == 0) check_pages(a, model);
    if (step % 500 == 499 && reuses_memory<TestType>) {
      a.decommit_spare();
      REQUIRE(a.stats().spare == 0);
      check_pages(a, model);
    }
  }
  check_pages(a, model);

  // Every freed byte can be allocated again: once all is freed, each space's
  // whole code area is one free block.
  for (const code_block& b : live) {
    REQUIRE(a.free(b));
    model.remove(b);
  }
  jitcm::testing::check_stats(a, model);
  check_pages(a, model);
  if constexpr (reuses_memory<TestType>) {
    // Only the units holding headers are left, and spare ones.
    const std::size_t unit = std::bit_ceil(std::max(a.config().commit_granularity, page));
    std::size_t headers = 0;
    for (const jitcm::code_space& s : a.code_spaces()) {
      headers += std::min(s.region.size(), (headers_end_offset(a) + unit - 1) & ~(unit - 1));
    }
    REQUIRE(a.stats().committed == headers + a.stats().spare);
    const std::size_t spaces = a.code_spaces().size();
    for (std::size_t i = 0; i < spaces; ++i) {
      const address_region code = a.code_spaces()[i].code;
      auto whole = a.allocate_in_region(code.size(), code);
      REQUIRE(whole);
      REQUIRE(whole->region() == code);
    }
    REQUIRE(a.code_spaces().size() == spaces);
  }
}

TEMPLATE_TEST_CASE("code spaces follow V8's reservation heuristic and carry their headers", "[allocator]", fake_pool,
                   fake_tlsf, fake_slab, fake_bump) {
  alloc::options o = small_spaces();
  o.max_code_space_size = 4 << 20;
  o.min_code_space_size = 0;
  o.space_code_header = 3 * page + 8;
  o.space_data_header = page + 1;
  TestType a{o};
  REQUIRE(a.code_spaces().empty());
  REQUIRE(a.stats() == jitcm::allocator_stats{});

  auto first = a.allocate(100);
  REQUIRE(first);
  REQUIRE(a.code_spaces().size() == 1);
  const jitcm::code_space s = a.code_spaces()[0];
  REQUIRE(s.code_header == address_region{s.region.begin(), 3 * page + 8});
  REQUIRE(s.data_header == address_region{s.region.begin() + 4 * page, 2 * page});
  REQUIRE(s.code.begin() == s.region.begin() + 6 * page);
  REQUIRE(first->executable() == s.code.begin());
  // Twice the overhead (6 pages): the largest candidate for a small block.
  REQUIRE(s.region.size() == reserved(12 * page));
  // Headers (4 code pages, 2 data pages) plus the block's page.
  REQUIRE(a.stats().committed == 7 * page);
  REQUIRE(a.space(0).committed_code(s.code_header.begin()));
  REQUIRE_FALSE(a.space(0).committed_code(s.data_header.begin()));  // data, not code
  REQUIRE(a.space(0).committed_bytes() == 7 * page);

  // A block larger than what is left: the new space holds it and its headers.
  auto big = a.allocate(20 * page);
  REQUIRE(big);
  REQUIRE(a.code_spaces().size() == 2);
  REQUIRE(a.code_spaces()[1].region.size() == reserved(26 * page));
  REQUIRE(big->executable() == a.code_spaces()[1].code.begin());
  // Then a quarter of what is reserved (38 pages) when that is the largest.
  for (int i = 0; i < 3; ++i) REQUIRE(a.allocate(3 * page));
  auto third = a.allocate(page);
  REQUIRE(third);
  const std::size_t reserved_before_third = reserved(12 * page) + reserved(26 * page);
  if (a.code_spaces().size() == 3) {
    const std::size_t quarter = reserved_before_third / 4;
    REQUIRE(a.code_spaces()[2].region.size() == reserved(std::max<std::size_t>(12 * page, quarter)));
  }
  for (const jitcm::code_space& space : a.code_spaces()) REQUIRE(space.region.size() <= o.max_code_space_size);
}

TEST_CASE("with default options 50 MB of code lies in two spaces of 32 MiB", "[allocator]") {
  // Each space costs a reservation, a shared memory object with dual mapping
  // and side tables; V8's quarter of what is reserved over 2 MiB made
  // thirteen for this much code.
  alloc::default_allocator<> a;
  // A block takes a page under mprotect toggling (exclusive pages).
  const std::size_t footprint = (1000 + a.alignment() - 1) & ~(a.alignment() - 1);
  std::vector<std::uintptr_t> blocks;
  for (std::size_t live = 0; live < (50 << 20); live += footprint) {
    auto b = a.allocate(1000);
    REQUIRE(b);
    blocks.push_back(b->executable());
  }
  REQUIRE(alloc::options{}.min_code_space_size == std::size_t{32} << 20);
  REQUIRE(a.code_spaces().size() == 2);
  for (const jitcm::code_space& s : a.code_spaces()) REQUIRE(s.region.size() == reserved(32 << 20));
  for (const std::uintptr_t b : blocks) REQUIRE(a.free(b));
  REQUIRE(a.stats().live == 0);
}

TEMPLATE_TEST_CASE("a first space sized by initial_reservation is not raised to min_code_space_size", "[allocator]",
                   fake_pool, fake_tlsf, fake_slab, fake_bump) {
  // V8's code-size estimate: a small module reserves what it will use; the
  // space after it is min_code_space_size again.
  alloc::options o = small_spaces();
  o.max_code_space_size = 8 << 20;
  o.min_code_space_size = 4 << 20;
  o.initial_reservation = 128 << 10;
  TestType a{o};
  REQUIRE(a.allocate(100));
  REQUIRE(a.code_spaces().size() == 1);
  REQUIRE(a.code_spaces()[0].region.size() == reserved(128 << 10));
  REQUIRE(a.allocate(200 << 10));
  REQUIRE(a.code_spaces().size() == 2);
  REQUIRE(a.code_spaces()[1].region.size() == reserved(4 << 20));
}

TEMPLATE_TEST_CASE("bad sizes and bad frees are errors that change nothing", "[allocator]", fake_pool, fake_tlsf,
                   fake_slab, fake_bump) {
  TestType a{small_spaces()};
  auto kept = a.allocate(200);
  REQUIRE(kept);
  const auto before = a.stats();

  auto zero = a.allocate(0);
  REQUIRE_FALSE(zero);
  REQUIRE(zero.error() == errc::invalid_argument);
  auto huge = a.allocate(std::numeric_limits<std::size_t>::max());
  REQUIRE_FALSE(huge);
  REQUIRE(huge.error() == errc::size_overflow);
  auto too_big = a.allocate(1 << 20);  // more than a space holds with its headers
  REQUIRE_FALSE(too_big);
  REQUIRE(too_big.error() == errc::limit_exceeded);
  auto zero_in = a.allocate_in_region(0, a.code_spaces()[0].code);
  REQUIRE_FALSE(zero_in);
  REQUIRE(zero_in.error() == errc::invalid_argument);
  auto nowhere = a.allocate_in_region(64, {0x1000, 0x1000});
  REQUIRE_FALSE(nowhere);
  REQUIRE(nowhere.error() == errc::out_of_memory);

  auto null_free = a.free(code_block{});
  REQUIRE_FALSE(null_free);
  REQUIRE(null_free.error() == errc::not_owned);
  auto foreign = a.free(code_block{0x1234, 0x1234, 64});
  REQUIRE_FALSE(foreign);
  REQUIRE(foreign.error() == errc::not_owned);
  auto wrong_size = a.free(code_block{kept->executable(), kept->writable(), kept->size() + 64});
  REQUIRE_FALSE(wrong_size);
  REQUIRE(wrong_size.error() == errc::invalid_argument);
  auto interior = a.free(code_block{kept->executable() + 64, kept->writable() + 64, 64});
  REQUIRE_FALSE(interior);
  REQUIRE(interior.error() == errc::double_free);

  auto outside = a.begin_write({0x1000, 16});
  REQUIRE_FALSE(outside);
  REQUIRE(outside.error() == errc::out_of_range);
  auto straddling = a.begin_write({a.code_spaces()[0].region.end() - 8, 16});
  REQUIRE_FALSE(straddling);
  REQUIRE(straddling.error() == errc::out_of_range);
  REQUIRE(a.begin_write(kept->region()));

  if constexpr (frees_by_address<TestType>) {
    const std::uintptr_t start = kept->executable();
    const std::pair<std::uintptr_t, errc> bad_addresses[] = {
        {0, errc::not_owned},
        {0x1234, errc::not_owned},
        {start + 1, errc::not_owned},                          // misaligned
        {a.code_spaces()[0].region.begin(), errc::not_owned},  // the headers
        {start + 64, errc::double_free},                       // inside the block
        {start + kept->size(), errc::double_free},             // the free rest of the space
    };
    for (const auto& [address, error] : bad_addresses) {
      auto refused = a.free(address);
      REQUIRE_FALSE(refused);
      REQUIRE(refused.error() == error);
    }
  }

  REQUIRE(a.stats() == before);
  REQUIRE(a.free(*kept));
  auto twice = a.free(*kept);
  REQUIRE_FALSE(twice);
  REQUIRE(twice.error() == errc::double_free);
  if constexpr (frees_by_address<TestType>) {
    auto twice_by_address = a.free(kept->executable());
    REQUIRE_FALSE(twice_by_address);
    REQUIRE(twice_by_address.error() == errc::double_free);
  }
}

TEMPLATE_TEST_CASE("invalid options make every allocation fail", "[allocator]", fake_pool, fake_tlsf, fake_slab,
                   fake_bump) {
  alloc::options odd = small_spaces();
  odd.alignment = 48;
  TestType a{odd};
  auto r = a.allocate(64);
  REQUIRE_FALSE(r);
  REQUIRE(r.error() == errc::invalid_argument);

  alloc::options crowded = small_spaces();
  crowded.space_code_header = crowded.max_code_space_size;
  TestType b{crowded};
  auto s = b.allocate(64);
  REQUIRE_FALSE(s);
  REQUIRE(s.error() == errc::invalid_argument);
  REQUIRE(b.stats() == jitcm::allocator_stats{});
}

TEMPLATE_TEST_CASE("max_committed is enforced and memory comes back", "[allocator]", fake_pool, fake_tlsf, fake_slab,
                   fake_bump) {
  alloc::options o = small_spaces();
  o.space_code_header = 0;
  o.space_data_header = 0;
  o.max_committed = 16 * page;
  // Commit ahead must stop at the limit, not fail the allocation.
  o.max_spare_committed = GENERATE(std::size_t{0}, 8 * page);
  TestType a{o};
  std::vector<code_block> blocks;
  for (;;) {
    const auto before = a.stats();
    auto b = a.allocate(page);
    if (!b) {
      REQUIRE(b.error() == errc::limit_exceeded);
      REQUIRE(a.stats() == before);
      break;
    }
    blocks.push_back(*b);
    REQUIRE(blocks.size() <= 16);
  }
  REQUIRE(blocks.size() == 16);
  REQUIRE(a.stats().committed == 16 * page);
  REQUIRE(a.free(blocks.back()));
  blocks.pop_back();
  if constexpr (reuses_memory<TestType>) {
    // Decommitted at once, or kept spare (and then reused).
    REQUIRE(a.stats().committed == (o.max_spare_committed == 0 ? 15 * page : 16 * page));
    REQUIRE(a.stats().spare == (o.max_spare_committed == 0 ? 0 : page));
    REQUIRE(a.allocate(page));
    REQUIRE(a.stats().spare == 0);
  } else {
    // bump keeps its pages: the limit still holds.
    auto again = a.allocate(page);
    REQUIRE_FALSE(again);
    REQUIRE(again.error() == errc::limit_exceeded);
  }
}

TEMPLATE_TEST_CASE("a shared commit budget limits several allocators together", "[allocator]", fake_pool, fake_tlsf,
                   fake_slab, fake_bump) {
  jitcm::commit_budget budget{10 * page};
  alloc::options o = small_spaces();
  o.space_code_header = 0;
  o.space_data_header = 0;
  o.budget = &budget;
  {
    TestType first{o};
    TestType second{o};
    auto big = first.allocate(8 * page);
    REQUIRE(big);
    REQUIRE(budget.committed() == 8 * page);
    auto refused = second.allocate(4 * page);
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error() == errc::limit_exceeded);
    REQUIRE(second.stats().committed == 0);
    REQUIRE(second.allocate(2 * page));
    REQUIRE(budget.committed() == 10 * page);
    REQUIRE(first.free(*big));
    if constexpr (reuses_memory<TestType>) {
      REQUIRE(budget.committed() == 2 * page);
      REQUIRE(second.allocate(4 * page));
    }
    REQUIRE(budget.committed() == first.stats().committed + second.stats().committed);
  }
  // Allocators give their pages back to the budget when they go.
  REQUIRE(budget.committed() == 0);
}

TEMPLATE_TEST_CASE("refused reservations and commits are reported and change nothing", "[allocator]", fake_pool,
                   fake_tlsf, fake_slab, fake_bump) {
  auto& control = fake_protection::control();
  TestType a{small_spaces()};
  auto first = a.allocate(64);
  REQUIRE(first);
  const auto before = a.stats();

  control.refuse_reserve = true;
  auto exhausted = a.allocate(300 << 10);  // needs a new space
  control.refuse_reserve = false;
  REQUIRE_FALSE(exhausted);
  REQUIRE(exhausted.error() == errc::address_space_exhausted);
  REQUIRE(a.stats() == before);

  // A commit that fails: the block's page in an existing space.
  control.commits_until_failure = 0;
  auto refused = a.allocate(2 * page);
  control.commits_until_failure = -1;
  REQUIRE_FALSE(refused);
  REQUIRE(refused.error() == std::error_code{ENOMEM, std::system_category()});
  REQUIRE(a.stats() == before);

  // A header commit that fails when a new space is reserved.
  control.commits_until_failure = 0;
  auto header_refused = a.allocate(300 << 10);
  control.commits_until_failure = -1;
  REQUIRE_FALSE(header_refused);
  REQUIRE(a.stats() == before);

  // All is well again; the free space was not lost.
  auto later = a.allocate(2 * page);
  REQUIRE(later);
  // Right after `first`, or after the slab that holds it.
  const std::size_t first_taken =
      std::is_same_v<TestType, fake_slab> ? alloc::slab_free_space<alloc::tlsf_free_space>::slab_granules * 64 : 64;
  if constexpr (!std::is_same_v<TestType, fake_bump>) {
    REQUIRE(later->executable() == first->executable() + first_taken);
  }
}

TEST_CASE("tlsf keeps allocate and free O(1): free lists stay short and merged", "[allocator][tlsf]") {
  alloc::options o = small_spaces();
  o.space_code_header = 0;
  o.space_data_header = 0;
  fake_tlsf a{o};
  std::vector<code_block> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(*a.allocate(64 + 64 * static_cast<std::size_t>(i % 7)));
  // Free every other block: holes that cannot merge.
  for (std::size_t i = 0; i < blocks.size(); i += 2) REQUIRE(a.free(blocks[i]));
  // Free the rest: everything merges back to one block per space.
  for (std::size_t i = 1; i < blocks.size(); i += 2) REQUIRE(a.free(blocks[i]));
  for (const jitcm::code_space& s : a.code_spaces()) {
    auto whole = a.allocate_in_region(s.code.size(), s.code);
    REQUIRE(whole);
  }
}

TEST_CASE("bump free only updates the statistics", "[allocator][bump]") {
  fake_bump a{small_spaces()};
  auto x = a.allocate(100);
  auto y = a.allocate(100);
  REQUIRE(x);
  REQUIRE(y);
  REQUIRE(y->executable() == x->executable() + 128);
  const auto committed = a.stats().committed;
  REQUIRE(a.free(*x));
  REQUIRE(a.stats().live == 128);
  REQUIRE(a.stats().freed == 128);
  REQUIRE(a.stats().committed == committed);
  auto z = a.allocate(100);
  REQUIRE(z);
  REQUIRE(z->executable() == y->executable() + 128);  // never reused
}

TEMPLATE_TEST_CASE("a space whose tlsf bitmap or slab table cannot be allocated is given back whole",
                   "[allocator][tlsf][faults]", fake_tlsf, fake_slab) {
  jitcm::commit_budget budget;
  alloc::options o = small_spaces();
  o.budget = &budget;
  TestType a{o};
  auto first = a.allocate(64);
  REQUIRE(first);
  const auto before = a.stats();
  {
    jitcm::testing::fault_injector refuse{jitcm::testing::fault_injector::every_call,
                                          {jitcm::platform::fault_point::side_allocation}};
    auto grown = a.allocate(600 << 10);  // needs a new space
    REQUIRE_FALSE(grown);
    CHECK(grown.error() == std::error_code{ENOMEM, std::system_category()});
  }
  CHECK(a.stats() == before);
  CHECK(a.code_spaces().size() == 1);
  CHECK(budget.committed() == before.committed);
  auto grown = a.allocate(600 << 10);
  REQUIRE(grown);
  CHECK(a.code_spaces().size() == 2);
  CHECK(budget.committed() == a.stats().committed);
}

TEMPLATE_TEST_CASE("begin_write over uncommitted units fails and changes nothing", "[allocator][faults]", fake_pool,
                   fake_tlsf, fake_slab, fake_bump) {
  TestType a{small_spaces()};
  auto b = a.allocate(64);
  REQUIRE(b);
  const jitcm::code_space& s = a.code_spaces()[0];
  const address_region far_away{s.code.end() - 2 * page, 64};
  const auto before = a.stats();
  auto scope = a.begin_write(far_away);
  REQUIRE_FALSE(scope);
  CHECK(scope.error() == errc::not_committed);
  CHECK_FALSE(a.is_committed(far_away.begin()));
  CHECK(a.stats() == before);
  CHECK(a.begin_write(b->region()));
}

namespace {

// An allocator with page units and up to 16 spare pages, after `count`
// one-page blocks were allocated (the committed pages checked after each).
template <class A>
struct spare_fixture {
  alloc::options o;
  A a;
  allocator_model model;
  std::vector<code_block> live;

  explicit spare_fixture(int count, long& commit_calls_before, std::size_t decommit_interval = 0)
      : o{[&] {
          alloc::options spare = small_spaces();
          spare.max_spare_committed = 16 * page;
          spare.decommit_interval = decommit_interval;
          return spare;
        }()},
        a{o} {
    commit_calls_before = fake_protection::control().commit_calls.load();
    for (int i = 0; i < count; ++i) {
      auto b = a.allocate(page);
      REQUIRE(b);
      model.add(*b);
      live.push_back(*b);
      check_pages(a, model);
    }
  }
};

// Frees every block of `f` in a random order, checking the committed pages
// after each free; returns the decommit calls made.
template <class A>
long free_in_random_order(spare_fixture<A>& f) {
  std::mt19937_64 rng{7};
  std::shuffle(f.live.begin(), f.live.end(), rng);
  auto& decommits = fake_protection::control().decommit_calls;
  const long before = decommits.load();
  for (const code_block& b : f.live) {
    REQUIRE(f.a.free(b));
    f.model.remove(b);
    check_pages(f.a, f.model);
  }
  return decommits.load() - before;
}

}  // namespace

TEMPLATE_TEST_CASE("a growing allocator commits ahead in steps of half the spare limit", "[allocator][spare]",
                   fake_pool, fake_tlsf, fake_slab) {
  long before = 0;
  spare_fixture<TestType> f{64, before};
  auto& calls = fake_protection::control().commit_calls;
  REQUIRE(f.a.stats().spare <= f.o.max_spare_committed / 2);
  // 64 units in steps of 1 + 8: 8 calls, and each space's headers (two
  // calls: code and data).
  const long made = calls.load() - before;
  INFO("commit calls: " << made << ", spaces: " << f.a.code_spaces().size());
  REQUIRE(made <= static_cast<long>(64 / 8 + 1 + 3 * f.a.code_spaces().size()));

  // Without a spare limit, a call per unit.
  alloc::options exact = f.o;
  exact.max_spare_committed = 0;
  TestType b{exact};
  const long exact_before = calls.load();
  for (int i = 0; i < 64; ++i) REQUIRE(b.allocate(page));
  REQUIRE(calls.load() - exact_before >= 64);
  REQUIRE(b.stats().spare == 0);
}

TEMPLATE_TEST_CASE("freeing many blocks decommits spare units in runs once they pass the limit", "[allocator][spare]",
                   fake_pool, fake_tlsf, fake_slab) {
  long commit_calls = 0;
  spare_fixture<TestType> f{120, commit_calls};
  const long made = free_in_random_order(f);  // spare bytes checked within the limit
  INFO("decommit calls for 120 units: " << made);
  REQUIRE(made > 0);
  REQUIRE(made < 120);  // fewer calls than units: neighbours go in one call
  REQUIRE(f.a.stats().spare <= f.o.max_spare_committed);
}

TEMPLATE_TEST_CASE("blocks freed in random order give back each chunk in one call and the rest on demand",
                   "[allocator][spare]", fake_pool, fake_tlsf, fake_slab) {
  long commit_calls = 0;
  spare_fixture<TestType> f{120, commit_calls, 1000};  // no unit grows old within these frees
  auto& [o, a, model, live] = f;
  auto& decommits = fake_protection::control().decommit_calls;
  const long before = decommits.load();
  const long made = free_in_random_order(f);
  // A chunk is 16 units here (the spare limit); each chunk without a block
  // went in one call as its last block left.
  std::size_t chunks = 0;
  for (const jitcm::code_space& s : a.code_spaces()) chunks += (s.region.size() / page + 15) / 16;
  INFO("decommit calls: " << made << ", chunks: " << chunks);
  REQUIRE(made > 0);
  REQUIRE(made <= static_cast<long>(chunks));
  // The chunks holding headers are never without a block: their spare
  // units wait to grow old, or for decommit_spare().
  const std::size_t spare = a.stats().spare;
  REQUIRE(spare > 0);
  REQUIRE(spare <= a.code_spaces().size() * 16 * page);
  a.decommit_spare();
  REQUIRE(a.stats().spare == 0);
  REQUIRE(decommits.load() - before > made);
  check_pages(a, model);
}

TEMPLATE_TEST_CASE("spare units scattered among live blocks are decommitted once spare for an interval",
                   "[allocator][spare]", fake_pool, fake_tlsf, fake_slab) {
  long commit_calls = 0;
  spare_fixture<TestType> f{120, commit_calls, 40};
  auto& [o, a, model, live] = f;
  // Every other block: no unit's chunk ever empties, so only units spare
  // for 40 frees go, looked for every 20 frees while spare passes 16 pages.
  auto& decommits = fake_protection::control().decommit_calls;
  const long before = decommits.load();
  std::size_t frees = 0;
  for (std::size_t i = 0; i < live.size(); i += 2) {
    REQUIRE(a.free(live[i]));
    model.remove(live[i]);
    ++frees;
    check_pages(a, model);
    if (frees < 40) REQUIRE(decommits.load() == before);
  }
  REQUIRE(frees == 60);
  REQUIRE(decommits.load() > before);
  // The look at the 60th free took the units of the first 20 frees; those
  // of the last 40 are spare still.
  CHECK(a.stats().spare == 40 * page);
  a.decommit_spare();
  CHECK(a.stats().spare == 0);
  check_pages(a, model);
}
