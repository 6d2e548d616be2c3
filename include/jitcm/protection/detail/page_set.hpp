// A set of the pages of one region, one bit each.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>

#include "../../base/address_region.hpp"
#include "../../base/detail/owned_array.hpp"
#include "../../platform/fault_injection.hpp"
#include "../../platform/virtual_memory.hpp"
#include "../../base/result.hpp"

namespace jitcm::protection::detail {

/// Which pages of a region are in the set (mprotect_toggle: which are
/// committed as code). Regions passed in are page-aligned and inside the
/// region the set was made for.
///
/// Thread safety: every member from any thread; updates of disjoint pages
/// never lose each other (the bits are atomic words).
class page_set {
 public:
  page_set() noexcept = default;

  /// An empty set for the pages of `region`. Errors: ENOMEM when its bitmap
  /// cannot be allocated.
  [[nodiscard]] static result<page_set> for_region(address_region region) noexcept {
    const std::size_t words = (region.size() / platform::page_size() + 63) / 64;
    if (jitcm::detail::side_allocation_refused()) return system_failure(ENOMEM);
    jitcm::detail::owned_array<std::atomic<std::uint64_t>> bits{new (std::nothrow) std::atomic<std::uint64_t>[words]()};
    if (!bits) return system_failure(ENOMEM);
    return page_set{region.begin(), std::move(bits)};
  }

  void insert(address_region pages) noexcept {
    for_each_word(pages, [](std::atomic<std::uint64_t>& word, std::uint64_t mask) {
      word.fetch_or(mask, std::memory_order_acq_rel);
      return true;
    });
  }

  void erase(address_region pages) noexcept {
    for_each_word(pages, [](std::atomic<std::uint64_t>& word, std::uint64_t mask) {
      word.fetch_and(~mask, std::memory_order_acq_rel);
      return true;
    });
  }

  [[nodiscard]] bool contains(address_region pages) const noexcept {
    bool all = true;
    for_each_word(pages, [&all](const std::atomic<std::uint64_t>& word, std::uint64_t mask) {
      all = (word.load(std::memory_order_acquire) & mask) == mask;
      return all;
    });
    return all;
  }

 private:
  page_set(std::uintptr_t base, jitcm::detail::owned_array<std::atomic<std::uint64_t>> bits) noexcept
      : base_{base}, bits_{std::move(bits)} {}

  // Calls visit(word, mask of the pages' bits in it) for each word the pages
  // touch, while visit returns true.
  template <class Visit>
  void for_each_word(address_region pages, Visit visit) const noexcept {
    const std::size_t page = platform::page_size();
    const std::size_t first = (pages.begin() - base_) / page;
    const std::size_t end = first + pages.size() / page;
    for (std::size_t p = first; p < end;) {
      const std::size_t stop = std::min(end, (p / 64 + 1) * 64);
      const std::size_t count = stop - p;
      const std::uint64_t mask = (count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1) << (p % 64);
      if (!visit(bits_[p / 64], mask)) return;
      p = stop;
    }
  }

  std::uintptr_t base_ = 0;
  jitcm::detail::owned_array<std::atomic<std::uint64_t>> bits_;
};

}  // namespace jitcm::protection::detail
