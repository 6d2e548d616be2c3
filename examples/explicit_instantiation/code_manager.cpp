// The one TU that compiles what the rest of the JIT shares: the manager type
// (the explicit-instantiation recipe) and jitcm's non-template functions
// (separate compilation; every TU of this example is built with
// JITCM_SEPARATE_COMPILATION, see meson.build).
#include "code_manager.hpp"

#include <jitcm/separate_compilation.hpp>

JITCM_INSTANTIATE_CODE_MANAGER(EXAMPLE_MANAGER_POLICIES);
