// disjoint_pool: V8's DisjointAllocationPool, a set of free address regions.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
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
  explicit disjoint_pool(address_region initial);

  /// Adds `region` to the free set, coalescing with neighbours it touches.
  result<address_region> merge(address_region region);

  /// The first `size` bytes of the lowest free region with room for them.
  [[nodiscard]] address_region allocate(std::size_t size);

  /// The lowest `size` free bytes inside `within`.
  [[nodiscard]] address_region allocate_in_region(std::size_t size, address_region within);

  [[nodiscard]] bool empty() const noexcept { return free_.empty(); }
  [[nodiscard]] region_range regions() const noexcept { return region_range{free_}; }
  [[nodiscard]] std::size_t size() const noexcept { return free_.size(); }
  [[nodiscard]] std::size_t free_bytes() const noexcept;
  /// The free region containing `address`, or an empty region.
  [[nodiscard]] address_region find(std::uintptr_t address) const;

 private:
  // Removes [begin, begin + size) from the free region at `it`, keeping what
  // is left on either side.
  address_region take(map_type::iterator it, std::uintptr_t begin, std::size_t size);

  [[nodiscard]] static unsigned class_of(std::size_t size) noexcept {
    return static_cast<unsigned>(std::bit_width(size)) - 1;
  }
  void index(std::uintptr_t begin, std::uintptr_t end);
  void unindex(std::uintptr_t begin, std::uintptr_t end);

  map_type free_;
  // Region starts by size class floor(log2(size)), each in address order.
  std::array<std::set<std::uintptr_t>, 64> by_class_;
  std::uint64_t nonempty_ = 0;  // bit c: by_class_[c] is not empty
};

}  // namespace jitcm

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/disjoint_pool.ipp"  // IWYU pragma: export
#endif
