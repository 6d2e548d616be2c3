// block_table: flat, address-indexed bookkeeping of the blocks of one code
// space, for allocator::tlsf_free_space.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>

#include "../../platform/fault_injection.hpp"

namespace jitcm::allocator::detail {

/// The blocks of one code space of `granules` alignment granules, indexed by
/// granule number (offset / alignment), never by hashing:
///
/// - a bitmap with a bit set on the first granule of every block, live or
///   free; the next set bit after a block's first is where it ends, which is
///   how free() learns a block's true size without a header;
/// - one 32-bit entry per granule naming the free block (an index the owner
///   chooses) whose first or last granule it is, 0 elsewhere, so a freed
///   block finds a free neighbour with one load at each of its ends;
/// - a bitmap of the granules whose entry is not 0, interleaved word by word
///   with the start bitmap: free() tests both bits of a granule in one cache
///   line and reads an entry only when a neighbour is free (the entries are
///   the large array, where random frees would miss the cache).
///
/// All live in one zeroed heap allocation: 34 bits per granule of address
/// space, paged in by the OS only where blocks are (at 64-byte granules about
/// 1/15 of the code that uses them; nothing in code memory).
///
/// | expression                 | result                      | guarantees |
/// |----------------------------|-----------------------------|------------|
/// | `block_table::make(n)`     | `std::optional<block_table>`| n granules, no block; empty when the allocation (or the fault hook) refuses |
/// | `t.set_start(g)` / `t.clear_start(g)` / `t.is_start(g)` | | the start bit of granule g |
/// | `t.next_start(g)`          | `std::size_t`               | the first start bit above g, or n |
/// | `t.start_at_or_below(g)`   | `std::size_t`               | the last start bit at or below g (precondition: granule 0 has one) |
/// | `t.is_free_end(g)`         | `bool`                      | whether the entry of granule g is not 0 (reads the bitmap only) |
/// | `t.free_end(g)`            | `std::uint32_t`             | the entry of granule g: the free block it ends or starts, 0 for none |
/// | `t.set_free_end(g, v)`     | `void`                      | sets it (0 clears) |
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
  static std::optional<block_table> make(std::size_t granules) {
    if (jitcm::detail::side_allocation_refused()) return std::nullopt;
    const std::size_t words = 2 * (granules / 64 + 1);  // start and free-end words, interleaved
    // calloc: the OS hands out zeroed pages lazily, so a large space costs
    // table memory only where blocks are.
    void* memory = std::calloc(1, words * sizeof(std::uint64_t) + granules * sizeof(std::uint32_t));
    if (memory == nullptr) return std::nullopt;
    return block_table{static_cast<std::uint64_t*>(memory), words, granules};
  }

  void set_start(std::size_t g) noexcept { start_word(g / 64) |= bit(g); }
  void clear_start(std::size_t g) noexcept { start_word(g / 64) &= ~bit(g); }
  [[nodiscard]] bool is_start(std::size_t g) const noexcept { return (start_word(g / 64) & bit(g)) != 0; }

  [[nodiscard]] std::size_t next_start(std::size_t g) const noexcept {
    if (++g >= granules_) return granules_;
    std::size_t word = g / 64;
    std::uint64_t bits = start_word(word) & (~std::uint64_t{0} << (g % 64));
    while (bits == 0) {
      if (++word * 64 >= granules_) return granules_;
      bits = start_word(word);
    }
    const std::size_t found = word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
    return found < granules_ ? found : granules_;
  }

  [[nodiscard]] std::size_t start_at_or_below(std::size_t g) const noexcept {
    std::size_t word = g / 64;
    std::uint64_t bits = start_word(word) & (~std::uint64_t{0} >> (63 - g % 64));
    while (bits == 0) bits = start_word(--word);
    return word * 64 + 63 - static_cast<std::size_t>(std::countl_zero(bits));
  }

  [[nodiscard]] bool is_free_end(std::size_t g) const noexcept { return (words_[2 * (g / 64) + 1] & bit(g)) != 0; }
  [[nodiscard]] std::uint32_t free_end(std::size_t g) const noexcept { return free_ends_[g]; }
  void set_free_end(std::size_t g, std::uint32_t value) noexcept {
    free_ends_[g] = value;
    if (value != 0) words_[2 * (g / 64) + 1] |= bit(g);
    else words_[2 * (g / 64) + 1] &= ~bit(g);
  }

  [[nodiscard]] std::size_t granules() const noexcept { return granules_; }

 private:
  struct deleter {
    void operator()(std::uint64_t* memory) const noexcept { std::free(memory); }
  };

  block_table(std::uint64_t* memory, std::size_t words, std::size_t granules) noexcept
      : words_{memory}, free_ends_{reinterpret_cast<std::uint32_t*>(memory + words)}, granules_{granules} {}

  [[nodiscard]] static std::uint64_t bit(std::size_t g) noexcept { return std::uint64_t{1} << (g % 64); }
  [[nodiscard]] std::uint64_t& start_word(std::size_t word) noexcept { return words_[2 * word]; }
  [[nodiscard]] std::uint64_t start_word(std::size_t word) const noexcept { return words_[2 * word]; }

  std::unique_ptr<std::uint64_t[], deleter> words_;  // start word, free-end word, start word, ...
  std::uint32_t* free_ends_;                         // inside the allocation of words_
  std::size_t granules_;
};

}  // namespace jitcm::allocator::detail
