// Concurrent allocate, write, run and free (run it under ThreadSanitizer).
#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>

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

// Each thread keeps its own blocks: allocates, writes a function into each,
// runs it, frees a random one, and checks its blocks never change under it.
template <class A, bool Execute>
void churn(A& a, int id, int rounds, std::size_t& live_bytes) {
  std::mt19937 rng{static_cast<unsigned>(id) * 7919u + 1};
  std::vector<std::pair<code_block, std::uint32_t>> mine;
  for (int round = 0; round < rounds; ++round) {
    if (mine.size() < 64 || rng() % 2 == 0) {
      auto b = a.allocate(8 + rng() % 700);
      REQUIRE(b);
      const auto value = static_cast<std::uint32_t>((id * 100000 + round) % 2000);
      if constexpr (Execute) {
        const example::return_constant code{value};
        auto scope = a.begin_write(b->region());
        REQUIRE(scope);
        std::memcpy(reinterpret_cast<void*>(b->rw()), code.bytes.data(), code.size);
        REQUIRE(scope->end());
        REQUIRE(example::function_at(b->rx())() == static_cast<int>(value));
      }
      mine.emplace_back(*b, value);
    } else {
      const std::size_t i = rng() % mine.size();
      if constexpr (Execute) REQUIRE(example::function_at(mine[i].first.rx())() == static_cast<int>(mine[i].second));
      REQUIRE(a.free(mine[i].first));
      mine[i] = mine.back();
      mine.pop_back();
    }
    if (round % 64 == 0) (void)a.stats();
  }
  live_bytes = 0;
  for (const auto& [b, value] : mine) live_bytes += b.size();
}

template <class A, bool Execute>
void run_threads(int rounds) {
  alloc::options o;
  o.max_code_space_size = 1 << 20;
  o.min_code_space_size = 128 << 10;
  A a{o};
  std::vector<std::size_t> live(thread_count, 0);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
      threads.emplace_back([&, t] { churn<A, Execute>(a, t, rounds, live[static_cast<std::size_t>(t)]); });
    }
    for (auto& t : threads) t.join();
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
                   alloc::pool<jitcm::protection::mprotect_toggle>, alloc::tlsf<jitcm::protection::mprotect_toggle>) {
  run_threads<TestType, true>(600);
}
