// Concurrent allocate, write, run and free (run it under ThreadSanitizer).
#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/mprotect_toggle_single_threaded.hpp>
#include <jitcm/protection/probe.hpp>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_protection.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

namespace alloc = jitcm::allocator;
using jitcm::code_block;

namespace {

constexpr int thread_count = 4;

// Whether code may run while another thread writes: unless a write scope
// takes execute permission from a page that other blocks share (the packed
// mprotect_toggle_single_threaded); there the bytes are compared instead,
// and run after join.
template <class A>
bool runs_while_others_write() {
  using traits = jitcm::protection::strategy_traits<typename A::protection_type>;
  return !traits::write_revokes_execute() || traits::exclusive_pages();
}

template <class A>
bool holds(const code_block& b, std::uint32_t value) {
  const example::return_constant code{value};
  if (runs_while_others_write<A>()) {
    return example::function_at(b.executable())() == static_cast<int>(value);
  } else {
    return std::memcmp(reinterpret_cast<const void*>(b.executable()), code.bytes.data(), code.size) == 0;
  }
}

// Each thread keeps its own blocks: allocates, writes a function into each,
// runs it, frees a random one, and checks its blocks never change under it.
// Catch's assertions are not thread-safe: threads count what went wrong and
// the test checks the counts after join.
template <class A, bool Execute>
int churn(A& a, int id, int rounds, std::size_t& live_bytes, std::vector<std::pair<code_block, std::uint32_t>>& mine) {
  int failures = 0;
  auto expect = [&failures](bool ok) {
    if (!ok) ++failures;
    return ok;
  };
  std::mt19937 rng{static_cast<unsigned>(id) * 7919u + 1};
  for (int round = 0; round < rounds; ++round) {
    if (mine.size() < 64 || rng() % 2 == 0) {
      auto b = a.allocate(8 + rng() % 700);
      if (!expect(b.has_value())) continue;
      const auto value = static_cast<std::uint32_t>((id * 100000 + round) % 2000);
      if constexpr (Execute) {
        const example::return_constant code{value};
        auto scope = a.begin_write(b->region());
        if (!expect(scope.has_value())) continue;
        std::memcpy(reinterpret_cast<void*>(b->writable()), code.bytes.data(), code.size);
        expect(scope->end().has_value());
        expect(holds<A>(*b, value));
      }
      mine.emplace_back(*b, value);
    } else {
      const std::size_t i = rng() % mine.size();
      if constexpr (Execute) expect(holds<A>(mine[i].first, mine[i].second));
      expect(a.free(mine[i].first).has_value());
      mine[i] = mine.back();
      mine.pop_back();
    }
    if (round % 64 == 0) (void)a.stats();
  }
  live_bytes = 0;
  for (const auto& [b, value] : mine) live_bytes += b.size();
  return failures;
}

template <class A, bool Execute>
void run_threads(int rounds) {
  alloc::options o;
  o.max_code_space_size = 1 << 20;
  o.min_code_space_size = 128 << 10;
  A a{o};
  std::vector<std::size_t> live(thread_count, 0);
  std::vector<int> failures(thread_count, 0);
  std::vector<std::vector<std::pair<code_block, std::uint32_t>>> blocks(thread_count);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
      const auto i = static_cast<std::size_t>(t);
      threads.emplace_back([&, t, i] { failures[i] = churn<A, Execute>(a, t, rounds, live[i], blocks[i]); });
    }
    for (auto& t : threads) t.join();
  }
  for (int f : failures) REQUIRE(f == 0);
  if constexpr (Execute) {
    for (const auto& mine : blocks) {
      for (const auto& [b, value] : mine) REQUIRE(example::function_at(b.executable())() == static_cast<int>(value));
    }
  }
  std::size_t total = 0;
  for (std::size_t bytes : live) total += bytes;
  REQUIRE(a.stats().live == total);
}

}  // namespace

TEMPLATE_TEST_CASE("concurrent allocate and free keep blocks disjoint and stats exact", "[allocator][threads]",
                   alloc::pool<jitcm::testing::fake_protection>, alloc::tlsf<jitcm::testing::fake_protection>,
                   alloc::bump<jitcm::testing::fake_protection>) {
  run_threads<TestType, false>(4000);
}

TEMPLATE_TEST_CASE("concurrent threads write and run code in blocks of one allocator", "[allocator][threads]",
                   alloc::pool<jitcm::protection::mprotect_toggle>, alloc::tlsf<jitcm::protection::mprotect_toggle>,
                   alloc::tlsf<jitcm::protection::mprotect_toggle_single_threaded>) {
  run_threads<TestType, true>(600);
}

// Native x86-64 only: qemu-user, which runs the AArch64 and RISC-V suites,
// keeps running its translation of old code when new bytes arrive at a
// reused address through the other view of a dual mapping.
#if defined(JITCM_HAS_DUAL_MAPPING) && defined(JITCM_ARCH_X64)
TEMPLATE_TEST_CASE("with dual mapping, threads run code while others write", "[allocator][threads]",
                   alloc::tlsf<jitcm::protection::dual_mapping>) {
  if (jitcm::protection::probe().dual_mapping) {
    WARN("dual mapping not available here");
    return;
  }
  run_threads<TestType, true>(600);
}
#endif
