// The W^X strategy allocators use unless told otherwise.
#pragma once

#include "mprotect_toggle.hpp"
#include "strategy.hpp"

namespace jitcm::protection {

/// mprotect toggling: it needs nothing but anonymous memory, so it works
/// wherever W^X JITs work at all. Pick dual_mapping for cheaper writes from
/// many threads, where executable shared memory is allowed.
using host_default = mprotect_toggle;

static_assert(strategy<mprotect_toggle>, "jitcm: mprotect_toggle must satisfy protection::strategy");

}  // namespace jitcm::protection
