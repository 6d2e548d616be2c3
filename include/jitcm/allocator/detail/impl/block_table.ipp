// Definitions of <jitcm/allocator/detail/block_table.hpp> (see
// allocator/impl/tlsf.ipp); the table's accessors stay inline.
#pragma once

#include <cstddef>
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

}  // namespace jitcm::allocator::detail
