// allocator::tlsf: two-level segregated fit, O(1) allocate and free.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include "../platform/fault_injection.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "detail/aligned_inside.hpp"
#include "detail/block_table.hpp"
#include "detail/region_index.hpp"

namespace jitcm::allocator {

/// Free space as a TLSF (Masmano et al., "TLSF: a new dynamic memory
/// allocator for real-time systems"): free blocks are segregated by size, 32
/// linear classes per power of two; two levels of bitmaps find the first
/// non-empty class large enough with two count-trailing-zeros. A freed
/// block merges with free neighbours at once. Allocate and free are O(1)
/// however fragmented the spaces are (free also checks the block's size,
/// O(size / 4 KiB) bit-scan words), and class rounding wastes at most 1/32.
///
/// Nothing is stored in code memory, and nothing is hashed: each space has a
/// detail::block_table, indexed by granule, a cache line per 64. Its start bitmap
/// marks the first granule of every block (live or free), which is how
/// free() checks that it is given a block and its true size; its free-end
/// entries name the free block whose first or last granule each granule is,
/// so a freed block finds a free neighbour, and its header, with one load at
/// each end. Only free blocks have headers (address, size, place in their
/// class), in a side array; a class is an array of header indices (where
/// TLSF links headers in a list: unlinking one touched two other headers,
/// each a likely cache miss). Allocate and free touch a handful of cache
/// lines: the class bitmaps and arrays, one header, the table line at each
/// of the block's ends (usually one line).
///
/// allocate_in_region walks the blocks of the window it is given (linear; it
/// is for the rare jump-table placement). When the size-rounded search finds
/// nothing, allocate looks once through the exact class before the
/// allocator reserves a new space, so a space is never grown while a block
/// that fits is free.
class tlsf_free_space {
 public:
  static constexpr bool returns_memory = true;

  explicit tlsf_free_space(std::size_t alignment) noexcept
      : shift_{static_cast<unsigned>(std::countr_zero(alignment))} {}

  bool add_space(address_region code) {
    auto table = detail::block_table::make(code.size() >> shift_);
    if (!table) return false;
    spaces_.push_back(space_entry{code, std::move(*table)});
    by_address_.insert(code, &spaces_.back());
    spaces_.back().table.set_start(0);
    attach(spaces_.back(), code.begin(), code.size());
    return true;
  }

  address_region allocate(std::size_t bytes) {
    const std::size_t granules = bytes >> shift_;
    std::uint32_t index = find_suitable(rounded_class_of(granules));
    if (index == none) index = first_fit_in_class(granules);
    if (index == none) return {};
    return take(index, nodes_[index].begin, bytes);
  }

  address_region allocate_in_region(std::size_t bytes, address_region within) {
    const address_region inside = detail::aligned_inside(within, alignment());
    if (inside.size() < bytes) return {};
    for (const auto& placed : by_address_.entries()) {
      space_entry& space = *placed.value;
      if (!space.code.overlaps(inside)) continue;
      // From the block holding the window's start, block by block.
      const std::uintptr_t first = std::max(inside.begin(), space.code.begin());
      std::uintptr_t block = address(space, space.table.start_at_or_below(granule(space, first)));
      const std::uintptr_t stop = std::min(inside.end(), space.code.end());
      while (block < stop) {
        const std::uintptr_t next = next_start(space, block);
        if (const std::uint32_t index = free_block_at(space, granule(space, block)); index != none) {
          const std::uintptr_t begin = std::max(block, inside.begin());
          const std::uintptr_t end = std::min(next, inside.end());
          if (end > begin && end - begin >= bytes) return take(index, begin, bytes);
        }
        block = next;
      }
    }
    return {};
  }

  void undo(address_region r) { give_back(*space_of(r.begin()), r); }

  std::error_code free(address_region r) {
    space_entry* space = space_of(r.begin());
    if (space == nullptr) return make_error_code(errc::double_free);
    const std::size_t g = granule(*space, r.begin());
    // A live block's first granule has a start bit and is no free block's end.
    if (!space->table.is_start(g) || space->table.is_free_end(g)) return make_error_code(errc::double_free);
    if (next_start(*space, r.begin()) != r.end()) return make_error_code(errc::invalid_argument);
    give_back(*space, r);
    return {};
  }

  /// Number of free blocks (for tests).
  [[nodiscard]] std::size_t free_blocks() const noexcept { return free_count_; }

 private:
  static constexpr std::uint32_t none = UINT32_MAX;
  static constexpr unsigned sl_bits = 5;
  static constexpr unsigned sl_count = 1u << sl_bits;
  static constexpr unsigned fl_count = 64;

  struct space_entry;

  struct node {  // a free block
    std::uintptr_t begin;
    std::size_t size;
    std::uint32_t slot;        // its place in the array of its size class
    std::uint32_t next_spare;  // while unused: the next unused header
    space_entry* space;        // in spaces_, where it never moves
  };

  struct size_class {
    unsigned first;
    unsigned second;
  };

  struct space_entry {
    address_region code;
    detail::block_table table;
  };

  [[nodiscard]] std::size_t alignment() const noexcept { return std::size_t{1} << shift_; }

  // ---- the side tables ----------------------------------------------------

  [[nodiscard]] std::size_t granule(const space_entry& s, std::uintptr_t address) const noexcept {
    return (address - s.code.begin()) >> shift_;
  }
  [[nodiscard]] std::uintptr_t address(const space_entry& s, std::size_t g) const noexcept {
    return s.code.begin() + (g << shift_);
  }

  // Where the block after the one starting at `address` starts (or the end
  // of the code area).
  [[nodiscard]] std::uintptr_t next_start(const space_entry& s, std::uintptr_t address) const noexcept {
    const std::size_t found = s.table.next_start(granule(s, address));
    return found >= s.table.granules() ? s.code.end() : s.code.begin() + (found << shift_);
  }

  // The free block whose first or last granule is `g`, or none. The table
  // holds index + 1 so that its zeroed memory means none.
  [[nodiscard]] static std::uint32_t free_block_at(const space_entry& s, std::size_t g) noexcept {
    return s.table.free_end(g) - 1;
  }
  static void set_free_end(space_entry& s, std::size_t g, std::uint32_t index) noexcept {
    s.table.set_free_end(g, index + 1);
  }

  [[nodiscard]] std::size_t first_granule(const space_entry& s, const node& n) const noexcept {
    return granule(s, n.begin);
  }
  [[nodiscard]] std::size_t last_granule(const space_entry& s, const node& n) const noexcept {
    return granule(s, n.begin + n.size) - 1;
  }

  [[nodiscard]] space_entry* space_of(std::uintptr_t address) noexcept {
    space_entry* const* space = by_address_.find(address);
    return space == nullptr ? nullptr : *space;
  }

  // ---- free blocks ------------------------------------------------------

  // Takes [begin, begin + bytes) out of free block `index`; what is left on
  // either side stays free. Taking from the front, the common case, keeps
  // the header and its last granule's entry and moves only the start.
  address_region take(std::uint32_t index, std::uintptr_t begin, std::size_t bytes) {
    node& n = nodes_[index];
    space_entry& space = *n.space;
    const std::uintptr_t block_begin = n.begin;
    const std::uintptr_t block_end = block_begin + n.size;
    const std::uintptr_t taken_end = begin + bytes;
    space.table.set_start(granule(space, begin));
    if (begin == block_begin && taken_end < block_end) {
      // At least two granules: the first is not also the last. The entry of
      // the first moves to the new first, unless that is the last (which
      // names the block already).
      const std::size_t first = granule(space, block_begin);
      const std::size_t rest = granule(space, taken_end);
      if (space.table.is_free_end(rest))
        space.table.set_free_end(first, 0);
      else
        space.table.move_free_end(first, rest);
      resize(index, taken_end, block_end - taken_end);
      space.table.set_start(rest);
      return {begin, bytes};
    }
    detach(space, index);
    if (begin > block_begin) attach(space, block_begin, begin - block_begin);
    if (taken_end < block_end) {
      space.table.set_start(granule(space, taken_end));
      attach(space, taken_end, block_end - taken_end);
    }
    return {begin, bytes};
  }

  // Makes live block `r` free, merged with the free blocks right below and
  // above it (found through the table entries at its two ends).
  void give_back(space_entry& space, address_region r) {
    const std::size_t g = granule(space, r.begin());
    const std::size_t end = granule(space, r.end());
    const std::uint32_t below = g > 0 && space.table.is_free_end(g - 1) ? free_block_at(space, g - 1) : none;
    const std::uint32_t above =
        end < space.table.granules() && space.table.is_free_end(end) ? free_block_at(space, end) : none;
    if (below == none && above == none) {
      attach(space, r.begin(), r.size());
      return;
    }
    if (above == none) {
      // The block below grows upwards: its last granule moves.
      space.table.clear_start(g);
      forget_last(space, below);
      resize(below, nodes_[below].begin, nodes_[below].size + r.size());
      set_free_end(space, end - 1, below);
      return;
    }
    space.table.clear_start(end);
    if (below == none) {
      // The block above grows downwards: its first granule moves.
      forget_first(space, above);
      resize(above, r.begin(), nodes_[above].size + r.size());
      set_free_end(space, g, above);
      return;
    }
    // Both: the block below swallows this one and the one above.
    remove_free(above);
    space.table.clear_start(g);
    forget_last(space, below);
    forget_first(space, above);
    const std::size_t last = last_granule(space, nodes_[above]);
    resize(below, nodes_[below].begin, nodes_[above].begin + nodes_[above].size - nodes_[below].begin);
    set_free_end(space, last, below);
    recycle(above);
  }

  // Gives free block `index` a new extent; it moves to another class only if
  // its class changes.
  void resize(std::uint32_t index, std::uintptr_t begin, std::size_t size) {
    node& n = nodes_[index];
    const size_class before = class_of(n.size >> shift_);
    const size_class after = class_of(size >> shift_);
    const bool same_class = before.first == after.first && before.second == after.second;
    if (!same_class) remove_free(index);
    n.begin = begin;
    n.size = size;
    if (!same_class) insert_free(index);
  }

  // Clears the table entry of a free block's last (first) granule, unless it
  // is also its first (last): a one-granule block keeps its other end.
  void forget_last(space_entry& space, std::uint32_t index) noexcept {
    const node& n = nodes_[index];
    if (n.size > alignment()) space.table.set_free_end(last_granule(space, n), 0);
  }
  void forget_first(space_entry& space, std::uint32_t index) noexcept {
    const node& n = nodes_[index];
    if (n.size > alignment()) space.table.set_free_end(first_granule(space, n), 0);
  }

  // A free block [begin, begin + size): a header, its ends in the table,
  // its class. Its start bit is set by the caller.
  void attach(space_entry& space, std::uintptr_t begin, std::size_t size) {
    std::uint32_t index;
    if (spare_ != none) {
      index = spare_;
      spare_ = nodes_[index].next_spare;
    } else {
      index = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[index] = node{begin, size, 0, none, &space};
    set_free_end(space, first_granule(space, nodes_[index]), index);
    set_free_end(space, last_granule(space, nodes_[index]), index);
    insert_free(index);
    ++free_count_;
  }

  void detach(space_entry& space, std::uint32_t index) {
    remove_free(index);
    space.table.set_free_end(first_granule(space, nodes_[index]), 0);
    space.table.set_free_end(last_granule(space, nodes_[index]), 0);
    recycle(index);
  }

  // Puts a header that is in no class on the spare list.
  void recycle(std::uint32_t index) noexcept {
    nodes_[index].next_spare = spare_;
    spare_ = index;
    --free_count_;
  }

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
      const std::uint64_t first_map = c.first + 1 < fl_count ? first_level_ & (~std::uint64_t{0} << (c.first + 1)) : 0;
      if (first_map == 0) return none;
      c.first = static_cast<unsigned>(std::countr_zero(first_map));
      second_map = second_level_[c.first];
    }
    return members_[c.first][static_cast<unsigned>(std::countr_zero(second_map))].back();
  }

  [[nodiscard]] std::uint32_t first_fit_in_class(std::size_t granules) const noexcept {
    const size_class c = class_of(granules);
    const std::size_t bytes = granules << shift_;
    const std::vector<std::uint32_t>& members = members_[c.first][c.second];
    for (auto at = members.rbegin(); at != members.rend(); ++at) {
      if (nodes_[*at].size >= bytes) return *at;
    }
    return none;
  }

  // A class is an array of header indices, not a linked list: adding a
  // block appends, removing one moves the last into its place, so neither
  // touches the headers of other blocks in the class (with random frees,
  // each such header was a cache miss); the arrays, 4 bytes a block, stay
  // in cache where headers do not.
  void insert_free(std::uint32_t index) {
    const size_class c = class_of(nodes_[index].size >> shift_);
    std::vector<std::uint32_t>& members = members_[c.first][c.second];
    nodes_[index].slot = static_cast<std::uint32_t>(members.size());
    members.push_back(index);
    first_level_ |= std::uint64_t{1} << c.first;
    second_level_[c.first] |= std::uint32_t{1} << c.second;
  }

  void remove_free(std::uint32_t index) noexcept {
    const node& n = nodes_[index];
    const size_class c = class_of(n.size >> shift_);
    std::vector<std::uint32_t>& members = members_[c.first][c.second];
    const std::uint32_t moved = members.back();
    members[n.slot] = moved;
    nodes_[moved].slot = n.slot;
    members.pop_back();
    if (members.empty()) {
      second_level_[c.first] &= ~(std::uint32_t{1} << c.second);
      if (second_level_[c.first] == 0) first_level_ &= ~(std::uint64_t{1} << c.first);
    }
  }

  unsigned shift_;
  std::uint64_t first_level_ = 0;
  std::array<std::uint32_t, fl_count> second_level_{};
  std::array<std::array<std::vector<std::uint32_t>, sl_count>, fl_count> members_;  // free blocks by class
  std::vector<node> nodes_;  // free-block headers; unused ones linked through next_spare
  std::uint32_t spare_ = none;
  std::size_t free_count_ = 0;
  std::deque<space_entry> spaces_;                 // in creation order; never move
  detail::region_index<space_entry*> by_address_;  // the code area of every space
};

/// The fast code allocator: TLSF free space (O(1) allocate and free, immediate
/// coalescing, no headers in code memory, one bit per live block) with the
/// code-space growth, commit-on-demand and decommit of every jitcm allocator.
template <protection::strategy Protection = protection::host_default>
using tlsf = basic_allocator<Protection, tlsf_free_space>;

}  // namespace jitcm::allocator
