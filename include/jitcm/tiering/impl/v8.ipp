// Definitions of <jitcm/tiering/v8.hpp> (see allocator/impl/tlsf.ipp):
// decisions made once per install or removal, each far costlier than a call.
#pragma once

#include "../v8.hpp"

namespace jitcm::tiering {

JITCM_DECL bool v8::should_install(const code& candidate, const code* installed,
                                   const module_state& state) const noexcept {
  if (candidate.for_debugging() == debug_kind::for_stepping) return false;
  if (state.debugging) {
    if (!candidate.is_debug_code()) return false;
    if (installed && installed->for_debugging() > candidate.for_debugging()) return false;
  }
  if (installed && !installed->is_debug_code() && installed->tier() > candidate.tier()) return false;
  return true;
}

JITCM_DECL bool v8::should_remove(const code& installed, removal_filter filter) const noexcept {
  switch (filter) {
    case removal_filter::all:
      return true;
    case removal_filter::debug_code:
      return installed.is_debug_code();
    case removal_filter::non_debug_code:
      return !installed.is_debug_code();
    case removal_filter::liftoff_code:
      return installed.tier() == liftoff;
    case removal_filter::turbofan_code:
      return installed.tier() == turbofan;
  }
  return false;
}

}  // namespace jitcm::tiering
