// Definitions of <jitcm/tiering/two_tier.hpp> (see allocator/impl/tlsf.ipp):
// decisions made once per install or removal, each far costlier than a call.
#pragma once

#include "../two_tier.hpp"

namespace jitcm::tiering {

JITCM_DECL bool two_tier::should_install(const code& candidate, const code* installed,
                                         const module_state& state) const noexcept {
  if (candidate.for_debugging() == debug_kind::for_stepping) return false;
  if (state.debugging) return candidate.is_debug_code();
  return installed == nullptr || installed->is_debug_code() || installed->tier() <= candidate.tier();
}

JITCM_DECL bool two_tier::should_remove(const code& installed, const removal_filter& filter) const noexcept {
  if (filter.tier && installed.tier() != *filter.tier) return false;
  if (filter.debug && installed.is_debug_code() != *filter.debug) return false;
  return true;
}

}  // namespace jitcm::tiering
