// Definitions of <jitcm/protection/probe.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../probe.hpp"

namespace jitcm::protection {

JITCM_DECL availability probe() noexcept {
  availability result;
  result.mprotect_toggle = detail::try_strategy<mprotect_toggle>();
#if defined(JITCM_HAS_DUAL_MAPPING)
  result.dual_mapping = detail::try_strategy<dual_mapping>();
#else
  result.dual_mapping = make_error_code(errc::unsupported);
#endif
  result.rwx = detail::try_strategy<rwx>();
  return result;
}

}  // namespace jitcm::protection
