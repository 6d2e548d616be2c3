// The JIT's one manager type, compiled once: every TU that includes this
// header uses jitcm::code_manager without compiling its out-of-line members
// nor jitcm's non-template functions (code_manager.cpp does both, once).
// See README, "Compile time".
#pragma once

#include <jitcm/explicit_instantiation.hpp>

namespace example {
using manager_type = jitcm::code_manager;
}  // namespace example

JITCM_EXTERN_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
