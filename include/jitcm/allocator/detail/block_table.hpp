// block_table: flat, address-indexed bookkeeping of the blocks of one code
// space, for allocator::tlsf_free_space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>

#include "../../base/config.hpp"

namespace jitcm::allocator::detail {

/// The blocks of one code space of `granules` alignment granules, indexed by
/// granule number (offset / alignment), never by hashing:
///
/// - a bitmap with a bit set on the first granule of every block, live or
///   free; the next set bit after a block's first is where it ends, which is
///   how free() learns a block's true size without a header;
/// - one 32-bit entry for each granule that is the first or last granule of a
///   free block, naming that block (an index the owner chooses), so a freed
///   block finds a free neighbour with one look at each of its ends;
/// - a bitmap of the granules that have an entry.
///
/// They are laid out by groups of 64 granules, one cache line each: the
/// group's start word, its entry word, and room for `inline_entries` entries
/// with the granule each belongs to (unordered: adding or removing one is
/// O(1), finding one a scan of a few bytes). A free block has at most two
/// entries and neighbouring free blocks are merged, so a group rarely has
/// more; one that does spills all its entries to its row of 64 in a second,
/// granule-indexed array, which the OS pages in only where a group spills,
/// until its last entry goes. Random frees then touch one line of the table,
/// where a flat array of entries cost a second miss, and the table takes
/// about 1 byte per granule of code where blocks are (1/64 of the code at
/// 64-byte granules; nothing in code memory).
///
/// | expression                 | result                      | guarantees |
/// |----------------------------|-----------------------------|------------|
/// | `block_table::make(n)`     | `std::optional<block_table>`| n granules, no block; empty when the allocation (or the fault hook) refuses |
/// | `t.set_start(g)` / `t.clear_start(g)` / `t.is_start(g)` | | the start bit of granule g |
/// | `t.next_start(g)`          | `std::size_t`               | the first start bit above g, or n |
/// | `t.start_at_or_below(g)`   | `std::size_t`               | the last start bit at or below g (precondition: granule 0 has one) |
/// | `t.is_free_end(g)`         | `bool`                      | whether granule g has an entry (reads the bitmap only) |
/// | `t.free_end(g)`            | `std::uint32_t`             | the entry of granule g: the free block it ends or starts, 0 for none |
/// | `t.set_free_end(g, v)`     | `void`                      | sets it (0 removes it); O(1) but a spill (64 stores), never allocates |
/// | `t.move_free_end(f, t)`    | `void`                      | the entry of f (it has one) becomes the entry of t (it has none) |
///
/// ```cpp
/// auto t = jitcm::allocator::detail::block_table::make(1024);
/// t->set_start(0);
/// t->set_start(10);                 // block [0, 10) and a block from 10
/// assert(t->next_start(0) == 10);
/// ```
///
/// Thread safety: none; the owning allocator locks.
class block_table {
 public:
  /// Entries a group keeps in its own cache line.
  static constexpr std::size_t inline_entries = 9;

  static std::optional<block_table> make(std::size_t granules);

  void set_start(std::size_t g) noexcept { group_of(g).starts |= bit(g); }
  void clear_start(std::size_t g) noexcept { group_of(g).starts &= ~bit(g); }
  [[nodiscard]] bool is_start(std::size_t g) const noexcept { return (group_of(g).starts & bit(g)) != 0; }

  [[nodiscard]] std::size_t next_start(std::size_t g) const noexcept;
  [[nodiscard]] std::size_t start_at_or_below(std::size_t g) const noexcept;

  [[nodiscard]] bool is_free_end(std::size_t g) const noexcept { return (group_of(g).ends & bit(g)) != 0; }
  [[nodiscard]] std::uint32_t free_end(std::size_t g) const noexcept;
  void set_free_end(std::size_t g, std::uint32_t value) noexcept;

  /// The entry of `from` moves to `to` (precondition: `from` has one, `to`
  /// has none): within a group that has not spilled, one slot is relabelled.
  void move_free_end(std::size_t from, std::size_t to) noexcept;

  [[nodiscard]] std::size_t granules() const noexcept { return granules_; }

 private:
  struct alignas(64) group {
    std::uint64_t starts;
    std::uint64_t ends;
    std::uint32_t entries[inline_entries];
    std::uint8_t granule[inline_entries];  // of entries[k], within the group
    std::uint8_t count;                    // entries, inline or spilled
    bool spilled;                          // the entries are in the group's spilled row
  };
  static_assert(sizeof(group) == 64, "a group is one cache line");
  static constexpr std::size_t row_bytes = 64 * sizeof(std::uint32_t);

  struct deleter {
    void operator()(void* memory) const noexcept { std::free(memory); }
  };

  block_table(std::unique_ptr<void, deleter> lines, std::unique_ptr<void, deleter> rows, std::size_t granules) noexcept;

  [[nodiscard]] static std::uint64_t bit(std::size_t g) noexcept { return std::uint64_t{1} << (g % 64); }
  [[nodiscard]] group& group_of(std::size_t g) noexcept { return groups_[g / 64]; }
  [[nodiscard]] const group& group_of(std::size_t g) const noexcept { return groups_[g / 64]; }
  [[nodiscard]] std::uint32_t* spilled_row(std::size_t g) const noexcept { return rows_ + (g / 64) * 64; }
  // Where granule g's entry is among the inline ones (it has one).
  [[nodiscard]] static std::size_t find_inline(const group& at, std::size_t g) noexcept;

  std::unique_ptr<void, deleter> lines_;
  std::unique_ptr<void, deleter> rows_memory_;
  group* groups_;        // inside lines_, aligned to a cache line
  std::uint32_t* rows_;  // a row of 64 entries per group, valid while the group is spilled
  std::size_t granules_;
};

}  // namespace jitcm::allocator::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/block_table.ipp"  // IWYU pragma: export
#endif
