// commit_budget: committed-bytes accounting shared by many allocators.
#pragma once

#include <atomic>
#include <cstddef>

#include "../detail/assert.hpp"

namespace jitcm {

/// A maximum of committed code memory shared by every allocator that points
/// at it (the code manager owns one for all its modules). Allocators charge
/// it before committing pages and release what they decommit or drop.
///
/// | expression          | result        | guarantees |
/// |---------------------|---------------|------------|
/// | `commit_budget{m}`  |               | maximum `m` bytes; 0 means unlimited |
/// | `b.try_charge(n)`   | `bool`        | adds `n` and returns true if the total stays within the maximum; otherwise changes nothing and returns false |
/// | `b.refund(n)`      | `void`        | subtracts `n` (precondition: `n` was charged) |
/// | `b.committed()`     | `std::size_t` | bytes charged now |
/// | `b.maximum()`       | `std::size_t` | the maximum (0: unlimited) |
/// | `b.set_maximum(m)`  | `void`        | changes the maximum; bytes already charged stay charged |
///
/// Thread safety: every member may be called from any thread at any time.
///
/// ```cpp
/// jitcm::commit_budget budget{64 << 20};
/// jitcm::allocator::default_allocator<> a{{.budget = &budget}};
/// ```
class commit_budget {
 public:
  constexpr commit_budget() noexcept = default;
  constexpr explicit commit_budget(std::size_t maximum) noexcept : maximum_{maximum} {}
  commit_budget(const commit_budget&) = delete;
  commit_budget& operator=(const commit_budget&) = delete;

  [[nodiscard]] bool try_charge(std::size_t bytes) noexcept {
    const std::size_t limit = maximum_.load(std::memory_order_relaxed);
    std::size_t current = committed_.load(std::memory_order_relaxed);
    do {
      if (limit != 0 && (bytes > limit || current > limit - bytes)) return false;
    } while (!committed_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
    return true;
  }
  void refund(std::size_t bytes) noexcept {
    JITCM_ASSERT(bytes <= committed());  // only what was charged goes back
    committed_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  [[nodiscard]] std::size_t committed() const noexcept { return committed_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t maximum() const noexcept { return maximum_.load(std::memory_order_relaxed); }
  void set_maximum(std::size_t maximum) noexcept { maximum_.store(maximum, std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> committed_{0};
  std::atomic<std::size_t> maximum_{0};
};

}  // namespace jitcm
