// Systematic fault injection, as SQLite tests malloc failures: run an
// operation with the k-th hooked call (OS call or bookkeeping allocation)
// refused, for k = 1, 2, ... until it runs with nothing refused, and check
// after every refusal that the library left a consistent state behind.
//
// Reusable parts, for allocators here and for modules and managers later:
// - fault_injector (fault_injector.hpp): RAII; while armed, refuses the k-th
//   hooked call with the errno the real call gives (platform::typical_error);
// - process_maps / accessible_bytes / mappings_in (process_maps.hpp):
//   /proc/self/maps, to see which pages really are accessible;
// - refuse_each_call_in_turn(setup, operation, check, finish): the k loop;
// - allocator_fixture<A>: an allocator with the blocks a test handed out,
//   their code, and the invariants every failure must keep.
//
// A module or manager operation plugs in the same way: a setup returning a
// fresh fixture, the operation (returns whether it succeeded), a check of
// the invariants, and a finish that frees everything and checks for leaks.
#pragma once

#include <jitcm/allocator/basic_allocator.hpp>
#include <jitcm/platform/fault_injection.hpp>
#include <jitcm/platform/virtual_memory.hpp>
#include <jitcm/protection/rwx.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "fault_injector.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests
#include "process_maps.hpp"

namespace jitcm::testing {

/// (operation, k) fault points run by refuse_each_call_in_turn in this process.
inline std::atomic<long>& fault_points_run() {
  static std::atomic<long> count{0};
  return count;
}

/// For k = 1, 2, ...: `setup()` builds a fresh fixture (no faults), then
/// `operation(fixture)` runs with the k-th hooked call refused and returns
/// whether it reported success. After a refusal `check(fixture)` tests the
/// invariants; an operation that failed must then succeed when run again
/// without faults, and `check` runs again. `finish(fixture)` tears down and
/// tests what must hold at the end (nothing leaks). The loop ends at the
/// first k where nothing was refused: the operation must succeed there.
/// Returns the number of fault points (values of k with a refusal).
template <class Setup, class Operation, class Check, class Finish>
long refuse_each_call_in_turn(Setup setup, Operation operation, Check check, Finish finish) {
  constexpr long give_up = 1000;  // an operation that never stops making calls is a bug
  for (long k = 1; k <= give_up; ++k) {
    auto fixture = setup();
    fault_injector injector{k};
    const bool succeeded = operation(fixture);
    const std::optional<platform::fault_site> refused = injector.disarm();
    if (!refused) {
      REQUIRE(succeeded);
      check(fixture);
      finish(fixture);
      return k - 1;
    }
    fault_points_run().fetch_add(1);
    INFO("call " << k << " refused: " << name_of(refused->point) << " of 0x" << std::hex << refused->region.begin()
                 << "+0x" << refused->region.size() << std::dec << "; the operation "
                 << (succeeded ? "succeeded" : "failed"));
    check(fixture);
    if (!succeeded) {
      REQUIRE(operation(fixture));
      check(fixture);
    }
    finish(fixture);
  }
  FAIL("the operation still made hooked calls after " << give_up << " of them");
  return give_up;
}

// ---- allocators -------------------------------------------------------------

/// Small spaces (so growth is cheap), headers, a commit unit of two pages
/// and a budget, so every path of the space set is taken.
inline allocator::options fault_test_options(commit_budget& budget) {
  allocator::options o;
  o.max_code_space_size = 256 << 10;
  o.min_code_space_size = 64 << 10;
  o.space_code_header = 64;
  o.space_data_header = 16;
  o.commit_granularity = 2 * platform::page_size();
  o.max_spare_committed = 2 * o.commit_granularity;  // commit ahead by a unit; decommit past two spare units
  o.decommit_interval = 0;                           // as soon as spare passes them
  o.budget = &budget;
  return o;
}

/// An allocator, the blocks handed out of it and the function written into
/// each (0: not written yet), and the invariants that hold between any two
/// operations, however they failed.
template <class A>
class allocator_fixture {
 public:
  struct tracked_block {
    code_block block;
    std::uint32_t value = 0;  // the function returns this; 0 until written
  };

  allocator_fixture() : allocator_{std::make_unique<A>(fault_test_options(budget_))} {}

  [[nodiscard]] A& allocator() { return *allocator_; }
  [[nodiscard]] std::vector<tracked_block>& blocks() { return blocks_; }

  /// Allocates and tracks; returns whether it succeeded.
  bool allocate(std::size_t bytes) { return track(allocator_->allocate(bytes)); }
  bool allocate_in_region(std::size_t bytes, address_region within) {
    return track(allocator_->allocate_in_region(bytes, within));
  }
  bool free(std::size_t index) {
    const code_block b = blocks_[index].block;
    if (!allocator_->free(b)) return false;
    blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(index));
    freed_ += b.size();
    return true;
  }
  /// Writes a new function into block `index` in one write scope; true when
  /// the scope opened and ended without error.
  bool rewrite(std::size_t index) {
    tracked_block& t = blocks_[index];
    auto scope = allocator_->begin_write(t.block.region());
    if (!scope) return false;
    t.value = next_value();
    const example::return_constant code{t.value};
    std::memcpy(reinterpret_cast<void*>(t.block.writable()), code.bytes.data(), code.size);
    return scope->end().has_value();
  }
  /// Destroys the allocator (the operation under test for destruction),
  /// remembering its spaces and the release calls that the armed
  /// fault_injector saw, for check_released().
  bool destroy() {
    remember_spaces();
    allocator_.reset();
    std::size_t calls = 0;
    const auto& log = fault_injector::log(calls);
    releases_.clear();
    for (std::size_t i = 0; i < calls; ++i) {
      if (log[i].site.point == platform::fault_point::unmap) releases_.push_back(log[i]);
    }
    return true;
  }

  /// The invariants; writes code into blocks not written yet and runs all.
  void check() {
    if (!allocator_) return check_released();
    const A& a = *allocator_;
    const allocator_stats stats = a.stats();
    // Statistics match a recount.
    std::size_t live = 0;
    for (const tracked_block& t : blocks_) live += t.block.size();
    REQUIRE(stats.live == live);
    REQUIRE(stats.freed == freed_);
    REQUIRE(stats.code_spaces == a.code_spaces().size());
    std::size_t reserved = 0;
    for (const code_space& s : a.code_spaces()) reserved += s.region.size();
    REQUIRE(stats.reserved == reserved);
    REQUIRE(budget_.committed() == stats.committed);
    // Committed bytes are the pages really accessible, in both views.
    std::size_t accessible = 0;
    for (const code_space& s : a.code_spaces()) {
      accessible += accessible_bytes(s.region);
      check_views_agree(s.region);
      check_write_xor_execute(s.region);
    }
    REQUIRE(stats.committed == accessible);
    check_ownership();
    write_unwritten();
    for (const tracked_block& t : blocks_) check_code(t);
  }

  /// Frees every block, checks that only header pages and spare units stay
  /// committed (for allocators that return memory), destroys the allocator
  /// and checks that its spaces and budget are gone.
  void finish() {
    if (allocator_) {
      while (!blocks_.empty()) REQUIRE(free(blocks_.size() - 1));
      check();
      if constexpr (A::free_space_type::returns_memory) {
        const allocator_stats stats = allocator_->stats();
        REQUIRE(stats.spare <= allocator_->config().max_spare_committed);
        REQUIRE(stats.committed == header_bytes() + stats.spare);
      }
      fault_injector observe{0};
      destroy();
    }
    check_released();
  }

 private:
  bool track(const result<code_block>& b) {
    if (!b) return false;
    blocks_.push_back({*b, 0});
    return true;
  }

  std::uint32_t next_value() { return 1 + (counter_++ % 2000); }

  // Dual mapping: a page is accessible in both views or in neither.
  void check_views_agree(address_region region) {
    const std::uintptr_t writable = allocator_->writable(region.begin());
    if (writable == region.begin()) return;
    REQUIRE(accessible_pages(region) == accessible_pages({writable, region.size()}));
  }

  void check_write_xor_execute(address_region region) {
    if constexpr (std::is_same_v<typename A::protection_type, protection::rwx>) return;
    for (const mapping& m : mappings_in(region)) {
      INFO("0x" << std::hex << m.begin << "-0x" << m.end << " " << m.perms);
      REQUIRE_FALSE((m.writable() && m.executable()));
    }
  }

  // Live blocks never overlap, lie in a space's code area, on committed pages.
  void check_ownership() {
    std::vector<code_block> sorted;
    for (const tracked_block& t : blocks_) sorted.push_back(t.block);
    std::sort(sorted.begin(), sorted.end(),
              [](const code_block& x, const code_block& y) { return x.executable() < y.executable(); });
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (i + 1 < sorted.size()) REQUIRE(sorted[i].region().end() <= sorted[i + 1].executable());
      const bool in_code = std::any_of(allocator_->code_spaces().begin(), allocator_->code_spaces().end(),
                                       [&](const code_space& s) { return s.code.contains(sorted[i].region()); });
      REQUIRE(in_code);
      REQUIRE(allocator_->is_committed(sorted[i].executable()));
      REQUIRE(allocator_->is_committed(sorted[i].region().end() - 1));
    }
  }

  void write_unwritten() {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      if (blocks_[i].value == 0) REQUIRE(rewrite(i));
    }
  }

  // The function's bytes are where they were written; it runs where the
  // page is executable. A page a failed write scope left writable must be
  // refused to writers (space_unusable) until it is executable again.
  void check_code(const tracked_block& t) {
    const example::return_constant code{t.value};
    REQUIRE(std::memcmp(reinterpret_cast<const void*>(t.block.executable()), code.bytes.data(), code.size) == 0);
    if (access_at(t.block.executable()).find('x') == std::string::npos) {
      fault_injector refuse_all{fault_injector::every_call};
      auto scope = allocator_->begin_write(t.block.region());
      REQUIRE_FALSE(scope);
      REQUIRE(scope.error() == errc::space_unusable);
      return;
    }
    if (runs_rewritten_code) REQUIRE(example::function_at(t.block.executable())() == static_cast<int>(t.value));
  }

  std::size_t header_bytes() const {
    const std::size_t page = platform::page_size();
    const allocator::options& o = allocator_->config();
    const std::size_t unit = std::bit_ceil(std::max(o.commit_granularity, page));
    const std::size_t code_pages = (o.space_code_header + page - 1) / page * page;
    const std::size_t headers_end = code_pages + (o.space_data_header + page - 1) / page * page;
    std::size_t bytes = 0;
    for (const code_space& s : allocator_->code_spaces()) {
      bytes += std::min(s.region.size(), (headers_end + unit - 1) / unit * unit);
    }
    return bytes;
  }

  void remember_spaces() {
    spaces_.clear();
    for (const code_space& s : allocator_->code_spaces()) {
      spaces_.push_back(s.region);
      const std::uintptr_t writable = allocator_->writable(s.region.begin());
      if (writable != s.region.begin()) spaces_.push_back({writable, s.region.size()});
    }
  }

  // Once the allocator is gone the budget is back to zero, and each space
  // (each view) was released, or, where the OS refused, is still reserved
  // with no page accessible. (A released range is not looked at: the
  // sanitizers' own allocators map memory into it at once.)
  void check_released() {
    REQUIRE(budget_.committed() == 0);
    for (const address_region region : spaces_) {
      // The last attempt counts: a refused release may be retried.
      const auto released = std::find_if(releases_.rbegin(), releases_.rend(), [&](const auto& call) {
        return call.site.region.begin() == region.begin() && call.site.region.size() == region.size();
      });
      INFO("space 0x" << std::hex << region.begin() << "+0x" << region.size());
      REQUIRE(released != releases_.rend());
      if (!released->refused) continue;
      REQUIRE(accessible_bytes(region) == 0);
      REQUIRE(!mappings_in(region).empty());
    }
    spaces_.clear();
    releases_.clear();
  }

  // qemu-user keeps its translation of code rewritten through a second view
  // (dual mapping off x86-64): there the bytes are compared only.
  static constexpr bool runs_rewritten_code =
#if defined(JITCM_ARCH_X64)
      true;
#else
      std::string_view{A::protection_type::name} != "dual_mapping";
#endif

  commit_budget budget_;
  std::unique_ptr<A> allocator_;
  std::vector<tracked_block> blocks_;
  std::vector<address_region> spaces_;  // of the destroyed allocator
  std::vector<fault_injector::logged_call> releases_;
  std::size_t freed_ = 0;
  std::uint32_t counter_ = 0;
};

}  // namespace jitcm::testing
