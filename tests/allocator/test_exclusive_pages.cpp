// Blocks on pages of their own under mprotect_toggle: publishing code never
// takes execute permission from code other threads are running; and the
// packed single-threaded opt-in still packs (and kills running threads).
#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/mprotect_toggle_single_threaded.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "child_process.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests
#include "printing.hpp"

using jitcm::address_region;
using jitcm::code_block;
namespace alloc = jitcm::allocator;
namespace protection = jitcm::protection;

namespace {

std::size_t page() { return jitcm::platform::page_size(); }

/// The pages holding any byte of `r`.
address_region pages_of(address_region r) {
  const std::uintptr_t begin = r.begin() & ~(page() - 1);
  const std::uintptr_t end = (r.end() + page() - 1) & ~(page() - 1);
  return {begin, end - begin};
}

bool share_a_page(address_region a, address_region b) { return pages_of(a).overlaps(pages_of(b)); }

/// Writes `int f() { return value; }` into `b` in a write scope of its own;
/// false if the scope could not be opened or ended.
template <class A>
bool write_function(A& a, const code_block& b, std::uint32_t value) {
  const example::return_constant code{value};
  auto scope = a.begin_write(b.region());
  if (!scope) return false;
  std::memcpy(reinterpret_cast<void*>(b.writable()), code.bytes.data(), code.size);
  return scope->end().has_value();
}

int call(const code_block& b) { return example::function_at(b.executable())(); }

alloc::options with_headers(std::size_t data_header = 16) {
  alloc::options o;
  o.space_code_header = 64;
  o.space_data_header = data_header;
  o.max_code_space_size = 1 << 20;
  o.min_code_space_size = 256 << 10;
  return o;
}

}  // namespace

TEMPLATE_TEST_CASE("under mprotect_toggle no two live blocks, nor a block and a header, share a page",
                   "[allocator][exclusive-pages]", alloc::pool<protection::mprotect_toggle>,
                   alloc::tlsf<protection::mprotect_toggle>, alloc::bump<protection::mprotect_toggle>) {
  // Without a data header, code would otherwise start right after the jump
  // tables of the code header.
  const std::size_t data_header = GENERATE(std::size_t{0}, std::size_t{16});
  TestType a{with_headers(data_header)};
  REQUIRE(a.write_revokes_execute());
  REQUIRE(a.exclusive_pages());
  REQUIRE(a.alignment() == page());

  std::vector<code_block> blocks;
  for (std::size_t i = 0; i < 300; ++i) {
    auto b = a.allocate(8 + (i * 37) % (2 * page()));
    REQUIRE(b);
    REQUIRE(b->executable() % page() == 0);
    REQUIRE(b->size() % page() == 0);
    REQUIRE(b->size() >= 8 + (i * 37) % (2 * page()));
    blocks.push_back(*b);
  }
  REQUIRE(a.code_spaces().size() > 1);
  std::sort(blocks.begin(), blocks.end(),
            [](const code_block& x, const code_block& y) { return x.executable() < y.executable(); });
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    INFO(blocks[i - 1].region() << " and " << blocks[i].region());
    REQUIRE_FALSE(share_a_page(blocks[i - 1].region(), blocks[i].region()));
  }
  for (const jitcm::code_space& s : a.code_spaces()) {
    REQUIRE(s.code.begin() % page() == 0);
    for (const code_block& b : blocks) {
      REQUIRE_FALSE(share_a_page(b.region(), s.code_header));
      REQUIRE_FALSE(share_a_page(b.region(), s.data_header));
    }
  }

  // Every block still holds code that runs after all the others were written.
  for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(write_function(a, blocks[i], static_cast<std::uint32_t>(i)));
  for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(call(blocks[i]) == static_cast<int>(i));
  for (const code_block& b : blocks) REQUIRE(a.free(b));
  REQUIRE(a.stats().live == 0);
}

TEMPLATE_TEST_CASE("under mprotect_toggle a block's page is handed out again only after the block is freed",
                   "[allocator][exclusive-pages]", alloc::pool<protection::mprotect_toggle>,
                   alloc::tlsf<protection::mprotect_toggle>) {
  TestType a{with_headers()};
  auto kept = a.allocate(64);
  REQUIRE(kept);
  REQUIRE(write_function(a, *kept, 11));

  // Small blocks freed at once leave room next to `kept` that a packing
  // allocator would use; these must not.
  for (int i = 0; i < 100; ++i) {
    auto b = a.allocate(16);
    REQUIRE(b);
    REQUIRE_FALSE(share_a_page(b->region(), kept->region()));
    REQUIRE(a.free(*b));
  }
  REQUIRE(call(*kept) == 11);

  REQUIRE(a.free(*kept));
  bool reused = false;
  std::vector<code_block> later;
  for (int i = 0; i < 100 && !reused; ++i) {
    auto b = a.allocate(16);
    REQUIRE(b);
    later.push_back(*b);
    reused = share_a_page(b->region(), kept->region());
  }
  REQUIRE(reused);  // the page came back once its block was freed
  REQUIRE(write_function(a, later.back(), 12));
  REQUIRE(call(later.back()) == 12);
}

TEST_CASE("mprotect_toggle_single_threaded packs blocks on shared pages", "[allocator][exclusive-pages]") {
  alloc::tlsf<protection::mprotect_toggle_single_threaded> a{with_headers()};
  REQUIRE(a.write_revokes_execute());
  REQUIRE_FALSE(a.exclusive_pages());
  REQUIRE(a.alignment() == jitcm::default_code_alignment);

  auto first = a.allocate(64);
  auto second = a.allocate(64);
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(first->size() == 64);
  REQUIRE(share_a_page(first->region(), second->region()));
  REQUIRE(write_function(a, *first, 21));
  REQUIRE(write_function(a, *second, 22));
  REQUIRE(call(*first) == 21);
  REQUIRE(call(*second) == 22);
}

namespace {

/// What went wrong while two threads ran one function and a third published.
struct publishing_outcome {
  int wrong_values = 0;     ///< calls of the running function that returned something else
  int failed_calls = 0;     ///< allocate, write scope or free errors
  int on_running_page = 0;  ///< new blocks on the running function's page
  int wrong_new_code = 0;   ///< published code that did not return its value
};

/// Two threads call a function from one block in a loop while a third
/// allocates, writes and publishes (ends the write scope of) `rounds` small
/// blocks and frees most of them again, so a packing allocator would put
/// them on the running function's page. Inside the first write scope and
/// every eighth after it, the writer waits until each runner has completed
/// a call begun after the scope opened, so runners certainly run while a
/// page of the allocator is RW: with shared pages that kills them (SIGSEGV),
/// with pages of their own it must not.
template <class A>
publishing_outcome run_while_publishing(int rounds) {
  A a{with_headers()};
  publishing_outcome outcome;
  auto running = a.allocate(64);
  if (!running || !write_function(a, *running, 1234)) {
    ++outcome.failed_calls;
    return outcome;
  }
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::atomic<unsigned long> calls[2] = {0, 0};
  auto runner = [&](std::atomic<unsigned long>& count) {
    while (!done.load(std::memory_order_acquire)) {
      if (call(*running) != 1234) wrong.fetch_add(1, std::memory_order_relaxed);
      count.fetch_add(1, std::memory_order_release);
    }
  };
  auto wait_for_fresh_calls = [&] {
    const unsigned long seen[2] = {calls[0].load(std::memory_order_acquire), calls[1].load(std::memory_order_acquire)};
    for (int r = 0; r < 2; ++r) {
      while (calls[r].load(std::memory_order_acquire) < seen[r] + 2) std::this_thread::yield();
    }
  };
  auto writer = [&] {
    std::vector<code_block> kept;
    for (int round = 0; round < rounds; ++round) {
      auto b = a.allocate(8 + static_cast<std::size_t>(round % 5) * 24);
      if (!b) {
        ++outcome.failed_calls;
        continue;
      }
      if (share_a_page(b->region(), running->region())) ++outcome.on_running_page;
      const auto value = static_cast<std::uint32_t>(round % 2000);
      const example::return_constant code{value};
      auto scope = a.begin_write(b->region());
      if (!scope) {
        ++outcome.failed_calls;
        continue;
      }
      std::memcpy(reinterpret_cast<void*>(b->writable()), code.bytes.data(), code.size);
      if (round % 8 == 0) wait_for_fresh_calls();
      if (!scope->end()) ++outcome.failed_calls;  // published
      if (call(*b) != static_cast<int>(value)) ++outcome.wrong_new_code;
      if (round % 4 == 0) {
        kept.push_back(*b);
      } else if (!a.free(*b)) {
        ++outcome.failed_calls;
      }
    }
    for (const code_block& b : kept) {
      if (!a.free(b)) ++outcome.failed_calls;
    }
  };
  std::thread runners[2] = {std::thread{runner, std::ref(calls[0])}, std::thread{runner, std::ref(calls[1])}};
  std::thread{writer}.join();
  done.store(true, std::memory_order_release);
  for (auto& r : runners) r.join();
  outcome.wrong_values = wrong.load();
  return outcome;
}

}  // namespace

TEMPLATE_TEST_CASE("under mprotect_toggle threads run a function while a third publishes into the allocator",
                   "[allocator][exclusive-pages][threads]", alloc::pool<protection::mprotect_toggle>,
                   alloc::tlsf<protection::mprotect_toggle>, alloc::bump<protection::mprotect_toggle>) {
  const publishing_outcome outcome = run_while_publishing<TestType>(400);
  CHECK(outcome.failed_calls == 0);
  CHECK(outcome.on_running_page == 0);
  CHECK(outcome.wrong_values == 0);
  CHECK(outcome.wrong_new_code == 0);
}

// The same run with blocks packed: the first write scope on the running
// function's page takes its execute permission while the runners call it
// (qemu-user faults the same way).
TEST_CASE("with packed blocks, publishing kills threads running code on the same page",
          "[allocator][exclusive-pages][threads]") {
  const auto child = jitcm::testing::run_in_child(
      [] { (void)run_while_publishing<alloc::tlsf<protection::mprotect_toggle_single_threaded>>(50); });
  CHECK(jitcm::testing::died_of_fault(child));
}
