// Definitions of <jitcm/detail/jump_table_set.hpp> (see allocator/impl/tlsf.ipp):
// the emitter-independent jump_table_list.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "../jump_table_set.hpp"

namespace jitcm::detail {

JITCM_DECL result<void> jump_table_list::choose_routing(std::optional<jump_table::routing> requested,
                                                        bool write_revokes_execute) noexcept {
  if (!requested) {
    routing_ = write_revokes_execute ? jump_table::routing::far_only : jump_table::routing::near;
    return {};
  }
  // A near retarget writes the slot's page, which must stay executable for
  // the threads running through it.
  if (*requested == jump_table::routing::near && write_revokes_execute) return failure{errc::invalid_argument};
  routing_ = *requested;
  return {};
}

JITCM_DECL std::span<const jump_table::table_view> jump_table_list::views() const noexcept { return tables_; }

JITCM_DECL std::size_t jump_table_list::size() const noexcept { return tables_.size(); }

JITCM_DECL void jump_table_list::add(const jump_table::table_view& view) {
  tables_.push_back(view);
  if (tables_.size() == 1) main_ = view;
}

}  // namespace jitcm::detail
