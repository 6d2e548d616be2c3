// Definitions of <jitcm/allocator/detail/block_table.hpp> (see
// allocator/impl/tlsf.ipp): the table's one-line accessors stay inline;
// what scans or spills a group is called only from tlsf.ipp, where it is
// inlined all the same.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include "../../../platform/fault_injection.hpp"
#include "../block_table.hpp"

namespace jitcm::allocator::detail {

JITCM_DECL std::optional<block_table> block_table::make(std::size_t granules) {
  if (jitcm::detail::side_allocation_refused()) return std::nullopt;
  const std::size_t groups = granules / 64 + 1;
  // calloc: the OS hands out zeroed pages lazily, so a large space costs
  // table memory only where blocks are (one extra line to align the groups
  // on cache lines). The rows are written whole when a group spills, so
  // they need no zeroing: malloc, touched only where a group spills.
  std::unique_ptr<void, deleter> lines{std::calloc(groups + 1, sizeof(group))};
  std::unique_ptr<void, deleter> rows{std::malloc(groups * row_bytes)};
  if (lines == nullptr || rows == nullptr) return std::nullopt;
  return block_table{std::move(lines), std::move(rows), granules};
}

JITCM_DECL block_table::block_table(std::unique_ptr<void, deleter> lines, std::unique_ptr<void, deleter> rows,
                                    std::size_t granules) noexcept
    : lines_{std::move(lines)},
      rows_memory_{std::move(rows)},
      groups_{reinterpret_cast<group*>((reinterpret_cast<std::uintptr_t>(lines_.get()) + alignof(group) - 1) &
                                       ~std::uintptr_t{alignof(group) - 1})},
      rows_{static_cast<std::uint32_t*>(rows_memory_.get())},
      granules_{granules} {}

JITCM_DECL std::size_t block_table::next_start(std::size_t g) const noexcept {
  if (++g >= granules_) return granules_;
  std::size_t word = g / 64;
  std::uint64_t bits = groups_[word].starts & (~std::uint64_t{0} << (g % 64));
  while (bits == 0) {
    if (++word * 64 >= granules_) return granules_;
    bits = groups_[word].starts;
  }
  const std::size_t found = word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
  return found < granules_ ? found : granules_;
}

JITCM_DECL std::size_t block_table::start_at_or_below(std::size_t g) const noexcept {
  std::size_t word = g / 64;
  std::uint64_t bits = groups_[word].starts & (~std::uint64_t{0} >> (63 - g % 64));
  while (bits == 0) bits = groups_[--word].starts;
  return word * 64 + 63 - static_cast<std::size_t>(std::countl_zero(bits));
}

JITCM_DECL std::uint32_t block_table::free_end(std::size_t g) const noexcept {
  if (!is_free_end(g)) return 0;
  const group& at = group_of(g);
  if (at.spilled) return spilled_row(g)[g % 64];
  return at.entries[find_inline(at, g)];
}

JITCM_DECL void block_table::set_free_end(std::size_t g, std::uint32_t value) noexcept {
  group& at = group_of(g);
  const bool had = is_free_end(g);
  if (value != 0)
    at.ends |= bit(g);
  else
    at.ends &= ~bit(g);
  if (at.spilled) {
    spilled_row(g)[g % 64] = value;
    at.count = static_cast<std::uint8_t>(at.count + (value != 0) - had);
    at.spilled = at.count != 0;
    return;
  }
  if (had) {
    const std::size_t k = find_inline(at, g);
    if (value != 0) {
      at.entries[k] = value;
      return;
    }
    // The last entry fills the hole.
    --at.count;
    at.entries[k] = at.entries[at.count];
    at.granule[k] = at.granule[at.count];
    return;
  }
  if (value == 0) return;
  if (at.count < inline_entries) {
    at.entries[at.count] = value;
    at.granule[at.count] = static_cast<std::uint8_t>(g % 64);
    ++at.count;
    return;
  }
  std::uint32_t* row = spilled_row(g);
  std::fill_n(row, 64, 0);
  for (std::size_t k = 0; k < at.count; ++k) row[at.granule[k]] = at.entries[k];
  row[g % 64] = value;
  ++at.count;
  at.spilled = true;
}

JITCM_DECL void block_table::move_free_end(std::size_t from, std::size_t to) noexcept {
  group& at = group_of(from);
  if (from / 64 == to / 64 && !at.spilled) {
    at.granule[find_inline(at, from)] = static_cast<std::uint8_t>(to % 64);
    at.ends = (at.ends & ~bit(from)) | bit(to);
    return;
  }
  const std::uint32_t value = free_end(from);
  set_free_end(from, 0);
  set_free_end(to, value);
}

JITCM_DECL std::size_t block_table::find_inline(const group& at, std::size_t g) noexcept {
  std::size_t k = 0;
  while (at.granule[k] != g % 64) ++k;
  return k;
}

}  // namespace jitcm::allocator::detail
