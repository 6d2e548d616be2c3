// The one TU that compiles the manager type the rest of the JIT uses.
#include "code_manager.hpp"

JITCM_INSTANTIATE_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
