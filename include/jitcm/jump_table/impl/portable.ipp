// Definitions of <jitcm/jump_table/portable.hpp> (see
// allocator/impl/tlsf.ipp): initialisation and retargeting; the readers stay
// inline.
#pragma once

#include <cstdint>

#include "../detail/machine_code_emitter.hpp"
#include "../portable.hpp"

namespace jitcm::jump_table {

JITCM_DECL result<void> portable::initialize(const table_view& view, std::uintptr_t lazy_entry, routing) noexcept {
  if (lazy_entry == 0) return failure{errc::invalid_argument};
  if (auto ok = detail::check_view(view, 0, data_bytes(view.slots), max_functions); !ok) return ok;
  for (std::uint32_t i = 0; i < view.slots; ++i) store(view, i, lazy_entry);
  return {};
}

JITCM_DECL result<void> portable::patch_far(const table_view& view, std::uint32_t i, std::uintptr_t target) noexcept {
  if (i >= view.slots) return failure{errc::out_of_range};
  if (target == 0) return failure{errc::invalid_argument};
  store(view, i, target);
  return {};
}

JITCM_DECL void portable::store(const table_view& view, std::uint32_t i, std::uintptr_t target) noexcept {
  detail::atomic_store<std::uint64_t>(view.data_writable_for(view.data_base + far_target_offset(i)), target);
}

}  // namespace jitcm::jump_table
