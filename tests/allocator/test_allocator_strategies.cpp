// Every allocator over the real W^X strategies: code written into blocks
// runs, freed pages go back, refused protection changes come back as errors.
#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "../faults/process_maps.hpp"
#include "available_strategies.hpp"
#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests
#include "printing.hpp"

using jitcm::address_region;
using jitcm::code_block;
using jitcm::errc;
namespace alloc = jitcm::allocator;
namespace protection = jitcm::protection;

using jitcm::testing::usable;

namespace {

template <class A>
void write_function(A& a, const code_block& b, std::uint32_t value) {
  const example::return_constant code{value};
  auto scope = a.begin_write(b.region());
  REQUIRE(scope);
  std::memcpy(reinterpret_cast<void*>(b.writable()), code.bytes.data(), code.size);
  REQUIRE(scope->end());
}

int call(const code_block& b) { return example::function_at(b.executable())(); }

// Code rewritten at a reused address: run it, except under dual mapping off
// x86-64, where the bytes are compared instead: qemu-user (how the AArch64
// and RISC-V suites run) keeps its translation of the old code because the
// new bytes arrive through the other view.
template <class A>
bool rewritten_code_holds(const code_block& b, int value) {
#if defined(JITCM_ARCH_X64)
  return call(b) == value;
#else
  if constexpr (std::is_same_v<typename A::protection_type, protection::rwx> ||
                std::is_same_v<typename A::protection_type, protection::mprotect_toggle>) {
    return call(b) == value;
  } else {
    const example::return_constant code{static_cast<std::uint32_t>(value)};
    return std::memcmp(reinterpret_cast<const void*>(b.executable()), code.bytes.data(), code.size) == 0;
  }
#endif
}

std::error_code refuse_everything(address_region, jitcm::platform::access) noexcept {
  return std::error_code{EACCES, std::system_category()};
}

}  // namespace

#if defined(JITCM_HAS_DUAL_MAPPING)
#define JITCM_TEST_DUAL_MAPPING \
  , alloc::pool<protection::dual_mapping>, alloc::tlsf<protection::dual_mapping>, alloc::bump<protection::dual_mapping>
#else
#define JITCM_TEST_DUAL_MAPPING
#endif

TEMPLATE_TEST_CASE("code written into blocks runs, under every strategy", "[allocator][strategies]",
                   alloc::pool<protection::mprotect_toggle>, alloc::tlsf<protection::mprotect_toggle>,
                   alloc::bump<protection::mprotect_toggle>, alloc::pool<protection::rwx>, alloc::tlsf<protection::rwx>,
                   alloc::bump<protection::rwx> JITCM_TEST_DUAL_MAPPING) {
  if (!usable<TestType>()) {
    WARN("strategy not available here: " << TestType::protection_type::name);
    return;
  }
  const std::size_t page = jitcm::platform::page_size();
  alloc::options o;
  o.max_code_space_size = 256 << 10;
  o.min_code_space_size = 64 << 10;
  o.space_code_header = 64;
  o.space_data_header = 16;
  o.max_spare_committed = 0;  // every unit decommitted as it empties, so the pages can be checked
  TestType a{o};

  std::mt19937 rng{7};
  std::vector<code_block> blocks;
  std::vector<int> values;
  for (int i = 0; i < 200; ++i) {
    auto b = a.allocate(8 + rng() % 3000);
    REQUIRE(b);
    write_function(a, *b, static_cast<std::uint32_t>(i));
    blocks.push_back(*b);
    values.push_back(i);
  }
  REQUIRE(a.code_spaces().size() > 1);
  for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(call(blocks[i]) == values[i]);

  // Headers: code in the code header runs; data cells are read at their
  // executable address after being written at the writable one, without a
  // write scope.
  for (const jitcm::code_space& s : a.code_spaces()) {
    write_function(a, code_block{s.code_header.begin(), a.writable(s.code_header.begin()), 64}, 1000);
    REQUIRE(example::function_at(s.code_header.begin())() == 1000);
    const std::uint64_t cell = 0x1122334455667788ull;
    std::memcpy(reinterpret_cast<void*>(a.writable(s.data_header.begin())), &cell, sizeof cell);
    std::uint64_t read = 0;
    std::memcpy(&read, reinterpret_cast<const void*>(s.data_header.begin()), sizeof read);
    REQUIRE(read == cell);
  }

  // Free half; the space is reused and new code runs there.
  for (std::size_t i = 0; i < blocks.size(); i += 2) REQUIRE(a.free(blocks[i]));
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    auto b = a.allocate(8 + rng() % 1000);
    REQUIRE(b);
    write_function(a, *b, static_cast<std::uint32_t>(500 + i));
    blocks[i] = *b;
    values[i] = static_cast<int>(500 + i);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(rewritten_code_holds<TestType>(blocks[i], values[i]));

  // Free everything: allocators that return memory keep only the commit
  // units holding headers.
  for (const code_block& b : blocks) REQUIRE(a.free(b));
  const std::size_t unit = std::bit_ceil(std::max(o.commit_granularity, page));
  const std::size_t headers = a.code_spaces().size() * ((2 * page + unit - 1) & ~(unit - 1));
  if constexpr (TestType::free_space_type::returns_memory) {
    REQUIRE(a.stats().committed == headers);
    for (const code_block& b : blocks) {
      for (const jitcm::code_space& s : a.code_spaces()) {
        if (s.region.contains(b.executable()) && b.executable() - s.region.begin() >= unit)
          REQUIRE_FALSE(a.is_committed(b.executable()));
      }
    }
  } else {
    REQUIRE(a.stats().committed > headers);
  }
  REQUIRE(a.stats().live == 0);
}

TEMPLATE_TEST_CASE("a refused protection change fails the allocation and changes nothing", "[allocator][strategies]",
                   alloc::pool<protection::mprotect_toggle>, alloc::tlsf<protection::mprotect_toggle>,
                   alloc::bump<protection::mprotect_toggle>) {
  TestType a{alloc::options{.max_spare_committed = 0}};  // nothing committed ahead
  auto first = a.allocate(64);
  REQUIRE(first);
  const auto before = a.stats();
  const std::size_t page = jitcm::platform::page_size();

  auto previous = jitcm::platform::set_protection_hook(&refuse_everything);
  auto refused = a.allocate(20 * page);  // reaches commit units not committed yet
  jitcm::platform::set_protection_hook(previous);
  REQUIRE_FALSE(refused);
  REQUIRE(refused.error() == std::error_code{EACCES, std::system_category()});
  REQUIRE(a.stats() == before);

  // The write scope fails the same way and the block stays usable.
  previous = jitcm::platform::set_protection_hook(&refuse_everything);
  auto scope = a.begin_write(first->region());
  jitcm::platform::set_protection_hook(previous);
  REQUIRE_FALSE(scope);
  REQUIRE(scope.error() == std::error_code{EACCES, std::system_category()});

  write_function(a, *first, 77);
  REQUIRE(call(*first) == 77);
  auto later = a.allocate(20 * page);
  REQUIRE(later);
  REQUIRE(later->executable() == first->executable() + first->size());
}

TEMPLATE_TEST_CASE("an absurd reservation reports exhausted address space", "[allocator][strategies]",
                   alloc::pool<protection::mprotect_toggle>, alloc::tlsf<protection::mprotect_toggle>,
                   alloc::bump<protection::mprotect_toggle>) {
  alloc::options o;
  o.max_code_space_size = std::size_t{1} << 62;
  TestType a{o};
  auto kept = a.allocate(64);
  REQUIRE(kept);
  const auto before = a.stats();
  auto absurd = a.allocate(std::size_t{1} << 60);
  REQUIRE_FALSE(absurd);
  REQUIRE(absurd.error() == errc::address_space_exhausted);
  REQUIRE(a.stats() == before);
  REQUIRE(a.allocate(64));
}

TEMPLATE_TEST_CASE("a free whose decommit is refused succeeds and keeps the units spare until a later free",
                   "[allocator][strategies][faults]", alloc::pool<protection::mprotect_toggle>,
                   alloc::tlsf<protection::mprotect_toggle> JITCM_TEST_DUAL_MAPPING) {
  if constexpr (TestType::free_space_type::returns_memory) {
    if (!usable<TestType>()) return;
    const std::size_t page = jitcm::platform::page_size();
    // Bulk decommits (which retry refused ones) whenever spare passes 0.
    TestType a{alloc::options{.max_spare_committed = 0, .decommit_interval = 0}};
    auto small = a.allocate(64);
    auto big = a.allocate(40 * page);  // lies on commit units of its own
    REQUIRE(small);
    REQUIRE(big);
    write_function(a, *small, 12);
    const auto before = a.stats();
    REQUIRE(before.spare == 0);
    {
      jitcm::testing::fault_injector refuse{
          jitcm::testing::fault_injector::every_call,
          {jitcm::platform::fault_point::decommit, jitcm::platform::fault_point::protect}};
      REQUIRE(a.free(*big));
    }
    // The units big leaves stay committed, counted as spare.
    CHECK(a.stats().live == before.live - big->size());
    CHECK(a.stats().committed == before.committed);
    CHECK(a.stats().spare > 0);
    CHECK(jitcm::testing::accessible_bytes(a.code_spaces()[0].region) == before.committed);
    CHECK(rewritten_code_holds<TestType>(*small, 12));
    // The next free decommits them.
    auto other = a.allocate(64);
    REQUIRE(other);
    REQUIRE(a.free(*other));
    CHECK(a.stats().spare == 0);
    CHECK(a.stats().committed < before.committed);
    CHECK(jitcm::testing::accessible_bytes(a.code_spaces()[0].region) == a.stats().committed);
    CHECK(rewritten_code_holds<TestType>(*small, 12));
  }
}

TEMPLATE_TEST_CASE("an allocator hands out nothing in a space whose pages could not be made RX again",
                   "[allocator][strategies][faults]", alloc::pool<protection::mprotect_toggle>,
                   alloc::tlsf<protection::mprotect_toggle>, alloc::bump<protection::mprotect_toggle>) {
  TestType a;
  auto first = a.allocate(64);
  REQUIRE(first);
  {
    auto scope = a.begin_write(first->region());
    REQUIRE(scope);
    const example::return_constant code{21};
    std::memcpy(reinterpret_cast<void*>(first->writable()), code.bytes.data(), code.size);
    jitcm::testing::fault_injector refuse{jitcm::testing::fault_injector::every_call,
                                          {jitcm::platform::fault_point::protect}};
    REQUIRE_FALSE(scope->end());
    const auto before = a.stats();
    auto refused = a.allocate(64);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::space_unusable);
    CHECK(a.stats() == before);
    CHECK(a.begin_write(first->region()).error() == errc::space_unusable);
  }
  auto later = a.allocate(64);
  REQUIRE(later);
  CHECK(jitcm::testing::access_at(first->executable()) == "r-xp");
  CHECK(call(*first) == 21);
  write_function(a, *later, 22);
  CHECK(call(*later) == 22);
}
