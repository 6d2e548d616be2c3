// The W^X strategy allocators use unless told otherwise.
#pragma once

#include "mprotect_toggle.hpp"
#include "strategy.hpp"
#include "thread_toggle.hpp"

namespace jitcm::protection {

#if defined(JITCM_OS_MACOS) && defined(JITCM_ARCH_ARM64)
/// Apple silicon allows executable pages that were writable only as MAP_JIT.
using host_default = thread_toggle;
#else
/// mprotect toggling: it needs nothing but anonymous memory, so it works
/// wherever W^X JITs work at all. Pick dual_mapping for cheaper writes from
/// many threads, where executable shared memory is allowed.
using host_default = mprotect_toggle;
#endif

static_assert(strategy<host_default>, "jitcm: the host's default W^X strategy must satisfy protection::strategy");

}  // namespace jitcm::protection
