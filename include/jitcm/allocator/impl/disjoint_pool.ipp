// Definitions of <jitcm/allocator/disjoint_pool.hpp> (see tlsf.ipp): the
// std::map and std::set code they instantiate is most of what the pool
// costs a TU.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>

#include "../disjoint_pool.hpp"

namespace jitcm {

JITCM_DECL disjoint_pool::disjoint_pool(address_region initial) {
  if (!initial.empty() && initial.end() > initial.begin()) {
    free_.emplace(initial.begin(), initial.end());
    index(initial.begin(), initial.end());
  }
}

JITCM_DECL result<address_region> disjoint_pool::merge(address_region region) {
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

JITCM_DECL address_region disjoint_pool::allocate(std::size_t size) {
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

JITCM_DECL address_region disjoint_pool::allocate_in_region(std::size_t size, address_region within) {
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

JITCM_DECL std::size_t disjoint_pool::free_bytes() const noexcept {
  std::size_t total = 0;
  for (const auto& [begin, end] : free_) total += end - begin;
  return total;
}

JITCM_DECL address_region disjoint_pool::find(std::uintptr_t address) const {
  auto it = free_.upper_bound(address);
  if (it == free_.begin()) return {};
  --it;
  return address < it->second ? address_region{it->first, it->second - it->first} : address_region{};
}

JITCM_DECL address_region disjoint_pool::take(map_type::iterator it, std::uintptr_t begin, std::size_t size) {
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

JITCM_DECL void disjoint_pool::index(std::uintptr_t begin, std::uintptr_t end) {
  const unsigned c = class_of(end - begin);
  by_class_[c].insert(begin);
  nonempty_ |= std::uint64_t{1} << c;
}

JITCM_DECL void disjoint_pool::unindex(std::uintptr_t begin, std::uintptr_t end) {
  const unsigned c = class_of(end - begin);
  by_class_[c].erase(begin);
  if (by_class_[c].empty()) nonempty_ &= ~(std::uint64_t{1} << c);
}

}  // namespace jitcm
