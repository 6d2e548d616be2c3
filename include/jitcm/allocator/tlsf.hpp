// allocator::tlsf: two-level segregated fit, O(1) allocate and free.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <system_error>
#include <vector>

#include "../base/config.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
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

  explicit tlsf_free_space(std::size_t alignment) noexcept;

  bool add_space(address_region code);

  address_region allocate(std::size_t bytes);

  address_region allocate_in_region(std::size_t bytes, address_region within);

  void undo(address_region r);

  std::error_code free(address_region r);

  /// Frees the live block that starts at `address` and returns it; empty
  /// (nothing changed) when none does.
  address_region free_at(std::uintptr_t address);

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
  [[nodiscard]] std::uintptr_t next_start(const space_entry& s, std::uintptr_t address) const noexcept;

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

  [[nodiscard]] space_entry* space_of(std::uintptr_t address) noexcept;

  // The live block that starts at `address` in `space`, or empty.
  [[nodiscard]] address_region live_block(const space_entry& space, std::uintptr_t address) const noexcept;

  // ---- free blocks ------------------------------------------------------

  // Takes [begin, begin + bytes) out of free block `index`; what is left on
  // either side stays free. Taking from the front, the common case, keeps
  // the header and its last granule's entry and moves only the start.
  address_region take(std::uint32_t index, std::uintptr_t begin, std::size_t bytes);

  // Makes live block `r` free, merged with the free blocks right below and
  // above it (found through the table entries at its two ends).
  void give_back(space_entry& space, address_region r);

  // Gives free block `index` a new extent; it moves to another class only if
  // its class changes.
  void resize(std::uint32_t index, std::uintptr_t begin, std::size_t size);

  // Clears the table entry of a free block's last (first) granule, unless it
  // is also its first (last): a one-granule block keeps its other end.
  void forget_last(space_entry& space, std::uint32_t index) noexcept;
  void forget_first(space_entry& space, std::uint32_t index) noexcept;

  // A free block [begin, begin + size): a header, its ends in the table,
  // its class. Its start bit is set by the caller.
  void attach(space_entry& space, std::uintptr_t begin, std::size_t size);

  void detach(space_entry& space, std::uint32_t index);

  // Puts a header that is in no class on the spare list.
  void recycle(std::uint32_t index) noexcept;

  // Sizes below 32 granules get a class each; above, each power of two is
  // split into 32 equal classes.
  [[nodiscard]] static size_class class_of(std::size_t granules) noexcept;

  // The class whose every block is at least `granules` large.
  [[nodiscard]] static size_class rounded_class_of(std::size_t granules) noexcept;

  [[nodiscard]] std::uint32_t find_suitable(size_class c) const noexcept;

  [[nodiscard]] std::uint32_t first_fit_in_class(std::size_t granules) const noexcept;

  // A class is an array of header indices, not a linked list: adding a
  // block appends, removing one moves the last into its place, so neither
  // touches the headers of other blocks in the class (with random frees,
  // each such header was a cache miss); the arrays, 4 bytes a block, stay
  // in cache where headers do not.
  void insert_free(std::uint32_t index);

  void remove_free(std::uint32_t index) noexcept;

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
template <class Protection = protection::host_default>
using tlsf = basic_allocator<Protection, tlsf_free_space>;

}  // namespace jitcm::allocator

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/tlsf.ipp"  // IWYU pragma: export
#endif
