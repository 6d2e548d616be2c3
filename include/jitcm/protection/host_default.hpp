// The W^X strategy allocators use unless told otherwise.
#pragma once

#include "dual_mapping_or_mprotect.hpp"
#include "mprotect_toggle.hpp"
#include "strategy.hpp"
#include "thread_toggle.hpp"

namespace jitcm::protection {

#if defined(JITCM_OS_MACOS) && defined(JITCM_ARCH_ARM64)
/// Apple silicon allows executable pages that were writable only as MAP_JIT.
using host_default = thread_toggle;
#elif defined(JITCM_HAS_DUAL_MAPPING)
/// Dual mapping where the process may map shared memory executable, else
/// mprotect toggling with a page per block; chosen once per process, and
/// forced with JITCM_WX=mprotect or JITCM_WX=dual_mapping (see
/// dual_mapping_or_mprotect). Either way threads may run code while others
/// write. On Windows the shared memory is a pagefile-backed section
/// (platform/detail/windows_dual_mapping.hpp), which a process refuses only
/// under a policy against dynamic code (ProcessDynamicCodePolicy), and then
/// refuses VirtualProtect to executable as well.
using host_default = dual_mapping_or_mprotect;
#else
/// mprotect toggling: it needs nothing but anonymous memory, so it works
/// wherever W^X JITs work at all.
using host_default = mprotect_toggle;
#endif

/// The name of the strategy host_default writes code with in this process:
/// "dual_mapping", "mprotect_toggle" or "thread_toggle". The first call may
/// make the run-time choice. Thread safety: any thread.
[[nodiscard]] inline const char* host_default_strategy_name() noexcept {
  if constexpr (requires { host_default::chosen_name(); }) {
    return host_default::chosen_name();
  } else {
    return host_default::name;
  }
}

}  // namespace jitcm::protection
