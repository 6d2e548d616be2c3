// allocator::tlsf: two-level segregated fit, O(1) allocate and free.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "pool.hpp"

namespace jitcm::allocator {

/// Free space as a TLSF (Masmano et al., "TLSF: a new dynamic memory
/// allocator for real-time systems"): free blocks sit in lists segregated by
/// size, 32 linear classes per power of two; two levels of bitmaps find the
/// first non-empty list large enough with two count-trailing-zeros. Free
/// blocks merge with their free neighbours at once. Allocate and free are
/// O(1) however fragmented the spaces are, and waste at most 1/32 of a block
/// to class rounding.
///
/// Block headers (address, size, neighbours, list links) live in a side
/// array, not in code memory: code pages hold nothing but code, and decommitted
/// pages stay untouched. A block's header index travels in its placement tag,
/// so free needs no search.
///
/// allocate_in_region walks the blocks of the spaces `within` meets (linear;
/// it is for the rare jump-table placement). When the size-rounded search
/// finds nothing, allocate looks once through the exact class list before the
/// allocator reserves a new space, so a space is never grown while a block
/// that fits is free.
class tlsf_free_space {
 public:
  static constexpr bool returns_memory = true;

  explicit tlsf_free_space(std::size_t alignment) noexcept
      : shift_{static_cast<unsigned>(std::countr_zero(alignment))} {
    for (auto& row : heads_) row.fill(none);
  }

  void add_space(address_region code) {
    const std::uint32_t index = new_node(code.begin(), code.size());
    nodes_[index].prev_phys = none;
    nodes_[index].next_phys = none;
    insert_free(index);
    spaces_.push_back({code, index});
  }

  placement allocate(std::size_t bytes) {
    const std::size_t granules = bytes >> shift_;
    std::uint32_t index = find_suitable(rounded_class_of(granules));
    if (index == none) index = first_fit_in_class(granules);
    if (index == none) return {};
    remove_free(index);
    split(index, bytes);
    nodes_[index].free = false;
    return {{nodes_[index].begin, bytes}, index};
  }

  placement allocate_in_region(std::size_t bytes, address_region within) {
    const address_region inside = pool_free_space::aligned_inside(within, alignment());
    if (inside.size() < bytes) return {};
    for (const space_entry& space : spaces_) {
      if (!space.code.overlaps(inside)) continue;
      for (std::uint32_t index = space.first; index != none; index = nodes_[index].next_phys) {
        const node& n = nodes_[index];
        if (n.begin >= inside.end()) break;
        if (!n.free) continue;
        const std::uintptr_t begin = std::max(n.begin, inside.begin());
        const std::uintptr_t end = std::min(n.begin + n.size, inside.end());
        if (end > begin && end - begin >= bytes) return carve(index, begin, bytes);
      }
    }
    return {};
  }

  void undo(placement p) { free(p); }

  void free(placement p) {
    std::uint32_t index = static_cast<std::uint32_t>(p.tag);
    nodes_[index].free = true;
    const std::uint32_t next = nodes_[index].next_phys;
    if (next != none && nodes_[next].free) {
      remove_free(next);
      nodes_[index].size += nodes_[next].size;
      unlink_phys(next);
      release_node(next);
    }
    const std::uint32_t prev = nodes_[index].prev_phys;
    if (prev != none && nodes_[prev].free) {
      remove_free(prev);
      nodes_[prev].size += nodes_[index].size;
      unlink_phys(index);
      release_node(index);
      index = prev;
    }
    insert_free(index);
  }

  /// Number of free blocks (for tests).
  [[nodiscard]] std::size_t free_blocks() const noexcept {
    std::size_t count = 0;
    for (const auto& row : heads_) {
      for (std::uint32_t index : row) {
        for (; index != none; index = nodes_[index].next_free) ++count;
      }
    }
    return count;
  }

 private:
  static constexpr std::uint32_t none = UINT32_MAX;
  static constexpr unsigned sl_bits = 5;
  static constexpr unsigned sl_count = 1u << sl_bits;
  static constexpr unsigned fl_count = 64;

  struct node {
    std::uintptr_t begin;
    std::size_t size;
    std::uint32_t prev_phys;  // neighbours in address order within one space
    std::uint32_t next_phys;
    std::uint32_t prev_free;  // links in the free list of its size class
    std::uint32_t next_free;
    bool free;
  };

  struct size_class {
    unsigned first;
    unsigned second;
  };

  struct space_entry {
    address_region code;
    std::uint32_t first;  // the lowest block never merges into another, so this stays valid
  };

  [[nodiscard]] std::size_t alignment() const noexcept { return std::size_t{1} << shift_; }

  // Sizes below 32 granules get a class each; above, each power of two is
  // split into 32 equal classes.
  [[nodiscard]] static size_class class_of(std::size_t granules) noexcept {
    if (granules < sl_count) return {0, static_cast<unsigned>(granules)};
    const unsigned top = static_cast<unsigned>(std::bit_width(granules)) - 1;
    return {top - sl_bits + 1, static_cast<unsigned>(granules >> (top - sl_bits)) & (sl_count - 1)};
  }

  // The class whose every block is at least `granules` large.
  [[nodiscard]] static size_class rounded_class_of(std::size_t granules) noexcept {
    if (granules < sl_count) return class_of(granules);
    const unsigned top = static_cast<unsigned>(std::bit_width(granules)) - 1;
    return class_of(granules + (std::size_t{1} << (top - sl_bits)) - 1);
  }

  [[nodiscard]] std::uint32_t find_suitable(size_class c) const noexcept {
    std::uint32_t second_map = second_level_[c.first] & (~std::uint32_t{0} << c.second);
    if (second_map == 0) {
      const std::uint64_t first_map =
          c.first + 1 < fl_count ? first_level_ & (~std::uint64_t{0} << (c.first + 1)) : 0;
      if (first_map == 0) return none;
      c.first = static_cast<unsigned>(std::countr_zero(first_map));
      second_map = second_level_[c.first];
    }
    return heads_[c.first][static_cast<unsigned>(std::countr_zero(second_map))];
  }

  [[nodiscard]] std::uint32_t first_fit_in_class(std::size_t granules) const noexcept {
    const size_class c = class_of(granules);
    const std::size_t bytes = granules << shift_;
    for (std::uint32_t index = heads_[c.first][c.second]; index != none; index = nodes_[index].next_free) {
      if (nodes_[index].size >= bytes) return index;
    }
    return none;
  }

  void insert_free(std::uint32_t index) noexcept {
    const size_class c = class_of(nodes_[index].size >> shift_);
    std::uint32_t& head = heads_[c.first][c.second];
    nodes_[index].free = true;
    nodes_[index].prev_free = none;
    nodes_[index].next_free = head;
    if (head != none) nodes_[head].prev_free = index;
    head = index;
    first_level_ |= std::uint64_t{1} << c.first;
    second_level_[c.first] |= std::uint32_t{1} << c.second;
  }

  void remove_free(std::uint32_t index) noexcept {
    const node& n = nodes_[index];
    const size_class c = class_of(n.size >> shift_);
    if (n.prev_free != none) nodes_[n.prev_free].next_free = n.next_free;
    else heads_[c.first][c.second] = n.next_free;
    if (n.next_free != none) nodes_[n.next_free].prev_free = n.prev_free;
    if (heads_[c.first][c.second] == none) {
      second_level_[c.first] &= ~(std::uint32_t{1} << c.second);
      if (second_level_[c.first] == 0) first_level_ &= ~(std::uint64_t{1} << c.first);
    }
  }

  // Cuts `bytes` off the front of block `index` (not in a free list); the
  // rest becomes a free block of its own.
  void split(std::uint32_t index, std::size_t bytes) {
    if (nodes_[index].size == bytes) return;
    const std::uint32_t rest = new_node(nodes_[index].begin + bytes, nodes_[index].size - bytes);
    nodes_[index].size = bytes;
    link_after(index, rest);
    insert_free(rest);
  }

  placement carve(std::uint32_t index, std::uintptr_t begin, std::size_t bytes) {
    remove_free(index);
    if (begin > nodes_[index].begin) {
      const std::size_t front = begin - nodes_[index].begin;
      const std::uint32_t taken = new_node(begin, nodes_[index].size - front);
      nodes_[index].size = front;
      link_after(index, taken);
      insert_free(index);
      index = taken;
    }
    split(index, bytes);
    nodes_[index].free = false;
    return {{begin, bytes}, index};
  }

  void link_after(std::uint32_t index, std::uint32_t added) noexcept {
    const std::uint32_t next = nodes_[index].next_phys;
    nodes_[added].prev_phys = index;
    nodes_[added].next_phys = next;
    if (next != none) nodes_[next].prev_phys = added;
    nodes_[index].next_phys = added;
  }

  void unlink_phys(std::uint32_t index) noexcept {
    const node& n = nodes_[index];
    if (n.prev_phys != none) nodes_[n.prev_phys].next_phys = n.next_phys;
    if (n.next_phys != none) nodes_[n.next_phys].prev_phys = n.prev_phys;
  }

  std::uint32_t new_node(std::uintptr_t begin, std::size_t size) {
    std::uint32_t index;
    if (spare_ != none) {
      index = spare_;
      spare_ = nodes_[index].next_free;
    } else {
      index = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[index] = node{begin, size, none, none, none, none, false};
    return index;
  }

  void release_node(std::uint32_t index) noexcept {
    nodes_[index].next_free = spare_;
    spare_ = index;
  }

  unsigned shift_;
  std::uint64_t first_level_ = 0;
  std::array<std::uint32_t, fl_count> second_level_{};
  std::array<std::array<std::uint32_t, sl_count>, fl_count> heads_{};
  std::vector<node> nodes_;
  std::uint32_t spare_ = none;  // unused node slots, linked through next_free
  std::vector<space_entry> spaces_;
};

/// The fast code allocator: TLSF free space (O(1) allocate and free, immediate
/// coalescing, headers outside code memory) with the code-space growth,
/// commit-on-demand and decommit of every jitcm allocator.
template <protection::strategy Protection = protection::host_default>
using tlsf = basic_allocator<Protection, tlsf_free_space>;

/// The allocator jitcm uses unless told otherwise.
template <protection::strategy Protection = protection::host_default>
using default_allocator = tlsf<Protection>;

}  // namespace jitcm::allocator
