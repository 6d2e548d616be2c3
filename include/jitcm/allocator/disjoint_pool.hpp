// disjoint_pool: V8's DisjointAllocationPool, a set of free address regions.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>

#include "../base/address_region.hpp"
#include "../base/result.hpp"

namespace jitcm {

/// A set of free address regions that never overlap or touch, kept in address
/// order (the semantics of V8's `DisjointAllocationPool`).
///
/// | expression                          | result                  | guarantees |
/// |-------------------------------------|-------------------------|------------|
/// | `p.merge(r)`                        | `result<address_region>`| adds `r`, coalescing with the free neighbours below and above; returns the merged region. `r` empty → `errc::invalid_argument`; `r` wrapping the address space → `errc::size_overflow`; `r` overlapping a free region → `errc::overlapping_region`. On error the pool is unchanged. |
/// | `p.allocate(n)`                     | `address_region`        | the first `n` bytes of the lowest free region that has at least `n`; empty (pool unchanged) when none has, or when `n == 0` |
/// | `p.allocate_in_region(n, within)`   | `address_region`        | as `allocate`, but only bytes inside `within`; may split a free region in two |
/// | `p.empty()`                         | `bool`                  | no free bytes |
/// | `p.regions()`                       | forward range of `address_region` | the free regions in address order |
/// | `p.size()`                          | `std::size_t`           | number of free regions |
/// | `p.free_bytes()`                    | `std::size_t`           | sum of their sizes |
///
/// `allocate` is first fit, as in V8, but does not walk every region below
/// the one it takes: regions are also indexed by power-of-two size class, so
/// the lowest region of every class that surely fits is found at once and
/// only regions of the one class that may or may not fit are visited, in
/// address order, below that. `merge` is logarithmic; `allocate_in_region`
/// logarithmic plus the regions it visits.
///
/// Thread safety: none; a const member may run concurrently with other const
/// members only. The allocators that use it hold their own lock.
///
/// ```cpp
/// jitcm::disjoint_pool pool;
/// (void)pool.merge({0x1000, 0x100});
/// (void)pool.merge({0x1100, 0x100});            // coalesces: {0x1000, 0x200}
/// auto block = pool.allocate(0x80);             // {0x1000, 0x80}
/// ```
class disjoint_pool {
  // begin -> end; adjacent entries never touch (end < next begin).
  using map_type = std::map<std::uintptr_t, std::uintptr_t>;

 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = address_region;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = address_region;

    iterator() = default;
    explicit iterator(map_type::const_iterator it) : it_{it} {}
    address_region operator*() const { return {it_->first, it_->second - it_->first}; }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    iterator operator++(int) {
      iterator copy = *this;
      ++it_;
      return copy;
    }
    friend bool operator==(const iterator&, const iterator&) = default;

   private:
    map_type::const_iterator it_{};
  };

  /// The free regions in address order, as a forward range.
  class region_range {
   public:
    explicit region_range(const map_type& map) : map_{&map} {}
    [[nodiscard]] iterator begin() const { return iterator{map_->begin()}; }
    [[nodiscard]] iterator end() const { return iterator{map_->end()}; }
    [[nodiscard]] std::size_t size() const { return map_->size(); }
    [[nodiscard]] bool empty() const { return map_->empty(); }

   private:
    const map_type* map_;
  };

  disjoint_pool() = default;
  /// A pool whose only free region is `initial` (nothing when it is empty).
  explicit disjoint_pool(address_region initial) {
    if (!initial.empty() && initial.end() > initial.begin()) {
      free_.emplace(initial.begin(), initial.end());
      index(initial.begin(), initial.end());
    }
  }

  /// Adds `region` to the free set, coalescing with neighbours it touches.
  result<address_region> merge(address_region region) {
    if (region.empty()) return failure{errc::invalid_argument};
    if (region.end() < region.begin()) return failure{errc::size_overflow};
    // A region ending exactly at the top of the address space is legal; its
    // end() wraps to 0, which the comparisons below would misread.
    if (region.end() == 0) return failure{errc::size_overflow};

    std::uintptr_t begin = region.begin();
    std::uintptr_t end = region.end();
    auto above = free_.lower_bound(begin);  // first free region starting at or after begin
    if (above != free_.end() && above->first < end) return failure{errc::overlapping_region};
    auto below = above == free_.begin() ? free_.end() : std::prev(above);
    if (below != free_.end() && below->second > begin) return failure{errc::overlapping_region};

    const bool joins_below = below != free_.end() && below->second == begin;
    const bool joins_above = above != free_.end() && above->first == end;
    if (joins_above) {
      end = above->second;
      unindex(above->first, above->second);
      above = free_.erase(above);
    }
    if (joins_below) {
      unindex(below->first, below->second);
      below->second = end;
      index(below->first, end);
      return address_region{below->first, end - below->first};
    }
    free_.emplace_hint(above, begin, end);
    index(begin, end);
    return address_region{begin, end - begin};
  }

  /// The first `size` bytes of the lowest free region with room for them.
  [[nodiscard]] address_region allocate(std::size_t size) {
    if (size == 0) return {};
    const unsigned k = class_of(size);
    // Every region in a class above k fits: the lowest of their lowest.
    std::uintptr_t best = UINTPTR_MAX;
    for (std::uint64_t above = k + 1 < 64 ? nonempty_ & (~std::uint64_t{0} << (k + 1)) : 0; above != 0;
         above &= above - 1) {
      best = std::min(best, *by_class_[static_cast<unsigned>(std::countr_zero(above))].begin());
    }
    // Regions of class k may be too small: the first below `best` that fits.
    for (std::uintptr_t begin : by_class_[k]) {
      if (begin >= best) break;
      if (free_.find(begin)->second - begin >= size) {
        best = begin;
        break;
      }
    }
    if (best == UINTPTR_MAX) return {};
    return take(free_.find(best), best, size);
  }

  /// The lowest `size` free bytes inside `within`.
  [[nodiscard]] address_region allocate_in_region(std::size_t size, address_region within) {
    if (size == 0 || within.size() < size) return {};
    const std::uintptr_t limit = within.end() < within.begin() ? UINTPTR_MAX : within.end();
    auto it = free_.upper_bound(within.begin());
    if (it != free_.begin()) --it;  // the region that may straddle within.begin()
    for (; it != free_.end() && it->first < limit; ++it) {
      const std::uintptr_t begin = it->first > within.begin() ? it->first : within.begin();
      const std::uintptr_t end = it->second < limit ? it->second : limit;
      if (end > begin && end - begin >= size) return take(it, begin, size);
    }
    return {};
  }

  [[nodiscard]] bool empty() const noexcept { return free_.empty(); }
  [[nodiscard]] region_range regions() const noexcept { return region_range{free_}; }
  [[nodiscard]] std::size_t size() const noexcept { return free_.size(); }
  [[nodiscard]] std::size_t free_bytes() const noexcept {
    std::size_t total = 0;
    for (const auto& [begin, end] : free_) total += end - begin;
    return total;
  }
  /// The free region containing `address`, or an empty region.
  [[nodiscard]] address_region find(std::uintptr_t address) const {
    auto it = free_.upper_bound(address);
    if (it == free_.begin()) return {};
    --it;
    return address < it->second ? address_region{it->first, it->second - it->first} : address_region{};
  }

 private:
  // Removes [begin, begin + size) from the free region at `it`, keeping what
  // is left on either side.
  address_region take(map_type::iterator it, std::uintptr_t begin, std::size_t size) {
    const std::uintptr_t region_begin = it->first;
    const std::uintptr_t region_end = it->second;
    const std::uintptr_t taken_end = begin + size;
    unindex(region_begin, region_end);
    if (begin == region_begin) {
      if (taken_end == region_end) {
        free_.erase(it);
      } else {
        // Re-key the node in place: no allocation, and it stays where it was
        // in address order.
        auto hint = std::next(it);
        auto node = free_.extract(it);
        node.key() = taken_end;
        free_.insert(hint, std::move(node));
        index(taken_end, region_end);
      }
    } else {
      it->second = begin;
      index(region_begin, begin);
      if (taken_end != region_end) {
        free_.emplace_hint(std::next(it), taken_end, region_end);
        index(taken_end, region_end);
      }
    }
    return {begin, size};
  }

  [[nodiscard]] static unsigned class_of(std::size_t size) noexcept {
    return static_cast<unsigned>(std::bit_width(size)) - 1;
  }
  void index(std::uintptr_t begin, std::uintptr_t end) {
    const unsigned c = class_of(end - begin);
    by_class_[c].insert(begin);
    nonempty_ |= std::uint64_t{1} << c;
  }
  void unindex(std::uintptr_t begin, std::uintptr_t end) {
    const unsigned c = class_of(end - begin);
    by_class_[c].erase(begin);
    if (by_class_[c].empty()) nonempty_ &= ~(std::uint64_t{1} << c);
  }

  map_type free_;
  // Region starts by size class floor(log2(size)), each in address order.
  std::array<std::set<std::uintptr_t>, 64> by_class_;
  std::uint64_t nonempty_ = 0;  // bit c: by_class_[c] is not empty
};

}  // namespace jitcm
