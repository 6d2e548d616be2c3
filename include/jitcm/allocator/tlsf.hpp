// allocator::tlsf: two-level segregated fit, O(1) allocate and free.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include "../platform/fault_injection.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "detail/address_map.hpp"
#include "pool.hpp"

namespace jitcm::allocator {

/// Free space as a TLSF (Masmano et al., "TLSF: a new dynamic memory
/// allocator for real-time systems"): free blocks sit in lists segregated by
/// size, 32 linear classes per power of two; two levels of bitmaps find the
/// first non-empty list large enough with two count-trailing-zeros. A freed
/// block merges with free neighbours at once. Allocate and free are O(1)
/// however fragmented the spaces are (free also checks the block's size,
/// O(size / 4 KiB) bit-scan words), and class rounding wastes at most 1/32.
///
/// Nothing is stored in code memory. Live blocks cost no header: a bitmap per
/// space marks the first granule of every block (live or free), which is how
/// free() checks that it is given a block and its true size, and a second
/// marks the first and last granule of every free block, which tells a freed
/// block at once whether a neighbour is free. Only free blocks have headers
/// (address, size, list links), in a side array, found through their start
/// or end address in small hash maps when a merge needs them. Metadata for
/// live code is 2 bits per alignment granule (1/256 of its size at 64 bytes).
///
/// allocate_in_region walks the blocks of the window it is given (linear; it
/// is for the rare jump-table placement). When the size-rounded search finds
/// nothing, allocate looks once through the exact class list before the
/// allocator reserves a new space, so a space is never grown while a block
/// that fits is free.
class tlsf_free_space {
 public:
  static constexpr bool returns_memory = true;

  explicit tlsf_free_space(std::size_t alignment) noexcept
      : shift_{static_cast<unsigned>(std::countr_zero(alignment))} {
    for (auto& row : heads_) row.fill(none);
  }

  bool add_space(address_region code) {
    const std::size_t words = ((code.size() >> shift_) + 64) / 64;
    if (jitcm::detail::side_allocation_refused()) return false;
    // calloc: the OS hands out zeroed pages lazily, so a large space costs
    // bitmap memory only where blocks are.
    std::unique_ptr<std::uint64_t[], bitmap_deleter> starts{
        static_cast<std::uint64_t*>(std::calloc(2 * words, sizeof(std::uint64_t)))};
    if (!starts) return false;
    std::uint64_t* marks = starts.get() + words;
    const auto id = static_cast<std::uint32_t>(spaces_.size());
    spaces_.push_back(space_entry{code, std::move(starts), marks, id});
    auto at = std::upper_bound(by_address_.begin(), by_address_.end(), code.begin(),
                               [this](std::uintptr_t a, std::uint32_t i) { return a < spaces_[i].code.begin(); });
    by_address_.insert(at, id);
    set_bit(spaces_.back().starts.get(), 0);
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
    const address_region inside = pool_free_space::aligned_inside(within, alignment());
    if (inside.size() < bytes) return {};
    for (const std::uint32_t id : by_address_) {
      space_entry& space = spaces_[id];
      if (!space.code.overlaps(inside)) continue;
      // From the block holding the window's start, block by block.
      const std::uintptr_t first = std::max(inside.begin(), space.code.begin());
      std::uintptr_t block = previous_start(space, first);
      const std::uintptr_t stop = std::min(inside.end(), space.code.end());
      while (block < stop) {
        const std::uintptr_t next = next_start(space, block);
        if (test_bit(space.marks, granule(space, block))) {
          const std::uint32_t index = *free_starts_.find(block);
          const std::uintptr_t begin = std::max(block, inside.begin());
          const std::uintptr_t end = std::min(next, inside.end());
          if (end > begin && end - begin >= bytes) return take(index, begin, bytes);
        }
        block = next;
      }
    }
    return {};
  }

  void undo(address_region r) { release(*space_of(r.begin()), r); }

  std::error_code free(address_region r) {
    space_entry* space = space_of(r.begin());
    if (space == nullptr) return make_error_code(errc::double_free);
    const std::size_t g = granule(*space, r.begin());
    // A live block's first granule has a start bit and no free mark.
    if (!test_bit(space->starts.get(), g) || test_bit(space->marks, g)) return make_error_code(errc::double_free);
    if (next_start(*space, r.begin()) != r.end()) return make_error_code(errc::invalid_argument);
    release(*space, r);
    return {};
  }

  /// Number of free blocks (for tests).
  [[nodiscard]] std::size_t free_blocks() const noexcept { return free_starts_.size(); }

 private:
  static constexpr std::uint32_t none = UINT32_MAX;
  static constexpr unsigned sl_bits = 5;
  static constexpr unsigned sl_count = 1u << sl_bits;
  static constexpr unsigned fl_count = 64;

  struct node {  // a free block
    std::uintptr_t begin;
    std::size_t size;
    std::uint32_t prev_free;  // links in the list of its size class
    std::uint32_t next_free;
    std::uint32_t space;      // index into spaces_
  };

  struct size_class {
    unsigned first;
    unsigned second;
  };

  struct bitmap_deleter {
    void operator()(std::uint64_t* words) const noexcept { std::free(words); }
  };

  struct space_entry {
    address_region code;
    // Bit g: a block (live or free) starts at granule g. The same allocation
    // holds `marks`.
    std::unique_ptr<std::uint64_t[], bitmap_deleter> starts;
    // Bit g: granule g is the first or the last of a free block. One test
    // tells whether a neighbour is free, before any map is looked at.
    std::uint64_t* marks;
    std::uint32_t id;  // index in spaces_
  };

  [[nodiscard]] std::size_t alignment() const noexcept { return std::size_t{1} << shift_; }

  // ---- bitmaps ----------------------------------------------------------

  static void set_bit(std::uint64_t* bits, std::size_t g) noexcept { bits[g / 64] |= std::uint64_t{1} << (g % 64); }
  static void clear_bit(std::uint64_t* bits, std::size_t g) noexcept {
    bits[g / 64] &= ~(std::uint64_t{1} << (g % 64));
  }
  [[nodiscard]] static bool test_bit(const std::uint64_t* bits, std::size_t g) noexcept {
    return ((bits[g / 64] >> (g % 64)) & 1) != 0;
  }

  [[nodiscard]] std::size_t granule(const space_entry& s, std::uintptr_t address) const noexcept {
    return (address - s.code.begin()) >> shift_;
  }

  // Where the block after the one starting at `address` starts (or the end
  // of the code area).
  [[nodiscard]] std::uintptr_t next_start(const space_entry& s, std::uintptr_t address) const noexcept {
    const std::size_t limit = s.code.size() >> shift_;
    std::size_t g = granule(s, address) + 1;
    if (g >= limit) return s.code.end();
    std::size_t word = g / 64;
    std::uint64_t bits = s.starts[word] & (~std::uint64_t{0} << (g % 64));
    while (bits == 0) {
      if (++word * 64 >= limit) return s.code.end();
      bits = s.starts[word];
    }
    const std::size_t found = word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
    return found >= limit ? s.code.end() : s.code.begin() + (found << shift_);
  }

  // The start of the block holding `address`.
  [[nodiscard]] std::uintptr_t previous_start(const space_entry& s, std::uintptr_t address) const noexcept {
    const std::size_t g = granule(s, address);
    std::size_t word = g / 64;
    std::uint64_t bits = s.starts[word] & (~std::uint64_t{0} >> (63 - g % 64));
    while (bits == 0) bits = s.starts[--word];  // granule 0 always starts a block
    return s.code.begin() + ((word * 64 + 63 - static_cast<std::size_t>(std::countl_zero(bits))) << shift_);
  }

  [[nodiscard]] space_entry* space_of(std::uintptr_t address) noexcept {
    auto at = std::upper_bound(by_address_.begin(), by_address_.end(), address,
                               [this](std::uintptr_t a, std::uint32_t i) { return a < spaces_[i].code.begin(); });
    if (at == by_address_.begin()) return nullptr;
    space_entry& s = spaces_[*std::prev(at)];
    return s.code.contains(address) ? &s : nullptr;
  }

  // ---- free blocks ------------------------------------------------------

  // Takes [begin, begin + bytes) out of free block `index`; what is left on
  // either side stays free. Taking from the front, the common case, keeps
  // the header and its end entry and moves only the start.
  address_region take(std::uint32_t index, std::uintptr_t begin, std::size_t bytes) {
    space_entry& space = spaces_[nodes_[index].space];
    const std::uintptr_t block_begin = nodes_[index].begin;
    const std::uintptr_t block_end = block_begin + nodes_[index].size;
    const std::uintptr_t taken_end = begin + bytes;
    set_bit(space.starts.get(), granule(space, begin));
    if (begin == block_begin && taken_end < block_end) {
      const size_class before = class_of(nodes_[index].size >> shift_);
      const size_class after = class_of((block_end - taken_end) >> shift_);
      const bool same_class = before.first == after.first && before.second == after.second;
      if (!same_class) remove_free(index);
      free_starts_.erase(block_begin);
      clear_bit(space.marks, granule(space, block_begin));
      nodes_[index].begin = taken_end;
      nodes_[index].size = block_end - taken_end;
      free_starts_.insert(taken_end, index);
      set_bit(space.starts.get(), granule(space, taken_end));
      set_bit(space.marks, granule(space, taken_end));
      if (!same_class) insert_free(index);
      return {begin, bytes};
    }
    detach(space, index);
    if (begin > block_begin) attach(space, block_begin, begin - block_begin);
    if (taken_end < block_end) {
      set_bit(space.starts.get(), granule(space, taken_end));
      attach(space, taken_end, block_end - taken_end);
    }
    return {begin, bytes};
  }

  // Makes live block `r` free, merged with the free blocks right below and
  // above it (checked in the marks bitmap first: most frees touch no map
  // entry of a neighbour).
  void release(space_entry& space, address_region r) {
    const std::size_t g = granule(space, r.begin());
    const bool below_free = g > 0 && test_bit(space.marks, g - 1);
    const bool above_free = r.end() < space.code.end() && test_bit(space.marks, granule(space, r.end()));
    if (!below_free && !above_free) {
      attach(space, r.begin(), r.size());
      return;
    }
    if (below_free && !above_free) {
      // The block below grows upwards: its end moves.
      const std::uint32_t index = *free_ends_.find(r.begin());
      remove_free(index);
      free_ends_.erase(r.begin());
      clear_bit(space.marks, g - 1);
      clear_bit(space.starts.get(), g);
      nodes_[index].size += r.size();
      free_ends_.insert(r.end(), index);
      mark_ends(space, index);
      insert_free(index);
      return;
    }
    const std::uint32_t above = *free_starts_.find(r.end());
    if (!below_free) {
      // The block above grows downwards: its start moves.
      remove_free(above);
      free_starts_.erase(r.end());
      clear_bit(space.marks, granule(space, r.end()));
      clear_bit(space.starts.get(), granule(space, r.end()));
      nodes_[above].begin = r.begin();
      nodes_[above].size += r.size();
      free_starts_.insert(r.begin(), above);
      mark_ends(space, above);
      insert_free(above);
      return;
    }
    // Both: the block below swallows this one and the one above.
    const std::uint32_t below = *free_ends_.find(r.begin());
    const std::uintptr_t end = nodes_[above].begin + nodes_[above].size;
    remove_free(below);
    free_ends_.erase(r.begin());
    clear_bit(space.marks, g - 1);
    clear_bit(space.starts.get(), g);
    detach(space, above);
    clear_bit(space.starts.get(), granule(space, r.end()));
    nodes_[below].size = end - nodes_[below].begin;
    free_ends_.insert(end, below);
    mark_ends(space, below);
    insert_free(below);
  }

  // Marks the first and last granule of free block `index`. Merges clear the
  // marks that end up inside the merged block first; a one-granule block's
  // single granule is both, so the marks are set again here.
  void mark_ends(space_entry& space, std::uint32_t index) noexcept {
    set_bit(space.marks, granule(space, nodes_[index].begin));
    set_bit(space.marks, granule(space, nodes_[index].begin + nodes_[index].size) - 1);
  }

  // A free block [begin, begin + size): a header, its start and end in the
  // maps and marks, its class list. Its start bit is set by the caller.
  void attach(space_entry& space, std::uintptr_t begin, std::size_t size) {
    std::uint32_t index;
    if (spare_ != none) {
      index = spare_;
      spare_ = nodes_[index].next_free;
    } else {
      index = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[index] = node{begin, size, none, none, space.id};
    free_starts_.insert(begin, index);
    free_ends_.insert(begin + size, index);
    set_bit(space.marks, granule(space, begin));
    set_bit(space.marks, granule(space, begin + size) - 1);
    insert_free(index);
  }

  void detach(space_entry& space, std::uint32_t index) {
    const std::uintptr_t begin = nodes_[index].begin;
    const std::uintptr_t end = begin + nodes_[index].size;
    remove_free(index);
    free_starts_.erase(begin);
    free_ends_.erase(end);
    clear_bit(space.marks, granule(space, begin));
    clear_bit(space.marks, granule(space, end) - 1);
    nodes_[index].next_free = spare_;
    spare_ = index;
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

  unsigned shift_;
  std::uint64_t first_level_ = 0;
  std::array<std::uint32_t, fl_count> second_level_{};
  std::array<std::array<std::uint32_t, sl_count>, fl_count> heads_{};
  std::vector<node> nodes_;     // free-block headers; unused ones linked through next_free
  std::uint32_t spare_ = none;
  // Free blocks by start and by end address (two maps: where spaces touch,
  // one block's end is the next space's first block's start).
  detail::address_map<std::uint32_t> free_starts_;
  detail::address_map<std::uint32_t> free_ends_;
  std::deque<space_entry> spaces_;         // in creation order; never move
  std::vector<std::uint32_t> by_address_;  // indices into spaces_, by address
};

/// The fast code allocator: TLSF free space (O(1) allocate and free, immediate
/// coalescing, no headers in code memory, one bit per live block) with the
/// code-space growth, commit-on-demand and decommit of every jitcm allocator.
template <protection::strategy Protection = protection::host_default>
using tlsf = basic_allocator<Protection, tlsf_free_space>;

/// The allocator jitcm uses unless told otherwise.
template <protection::strategy Protection = protection::host_default>
using default_allocator = tlsf<Protection>;

}  // namespace jitcm::allocator
