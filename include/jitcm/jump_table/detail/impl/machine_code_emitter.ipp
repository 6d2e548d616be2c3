// Definitions of <jitcm/jump_table/detail/machine_code_emitter.hpp> (see
// allocator/impl/tlsf.ipp): the checks a table's initialisation makes once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../machine_code_emitter.hpp"

namespace jitcm::jump_table::detail {

JITCM_DECL result<void> check_view(const table_view& view, std::size_t code_bytes, std::size_t data_bytes,
                                   std::uint32_t max_functions) noexcept {
  if (view.slots > max_functions || view.first_index > max_functions - view.slots) {
    return failure{errc::limit_exceeded};
  }
  if (data_bytes != 0 && (view.data_base == 0 || view.data_writable == 0)) return failure{errc::invalid_argument};
  if (code_bytes != 0 && (view.code_base == 0 || view.code_writable == 0)) return failure{errc::invalid_argument};
  if (((view.code_base | view.code_writable | view.data_base | view.data_writable) & 7) != 0) {
    return failure{errc::misaligned};
  }
  constexpr auto top = std::numeric_limits<std::uintptr_t>::max();
  if (view.code_base > top - code_bytes || view.code_writable > top - code_bytes || view.data_base > top - data_bytes ||
      view.data_writable > top - data_bytes) {
    return failure{errc::size_overflow};
  }
  return {};
}

}  // namespace jitcm::jump_table::detail
