// Definitions of <jitcm/detail/code_table.hpp> (see
// allocator/impl/tlsf.ipp): a table's creation, once per module; the
// accessors stay inline.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>

#include "../../platform/fault_injection.hpp"
#include "../code_table.hpp"

namespace jitcm::detail {

JITCM_DECL result<code_table> code_table::create(std::uint32_t slots) noexcept {
  code_table table;
  if (!side_allocation_refused())
    table.entries_.reset(new (std::nothrow) std::atomic<const code*>[slots == 0 ? 1 : slots]);
  if (!table.entries_) return failure{errc::out_of_memory};
  for (std::uint32_t i = 0; i < slots; ++i) table.entries_[i].store(nullptr, std::memory_order_relaxed);
  return table;
}

}  // namespace jitcm::detail
