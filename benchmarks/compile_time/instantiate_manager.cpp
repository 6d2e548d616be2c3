// The one TU the explicit-instantiation recipe adds: the manager type's
// out-of-line members, compiled once.
#include <jitcm/explicit_instantiation.hpp>

JITCM_INSTANTIATE_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
