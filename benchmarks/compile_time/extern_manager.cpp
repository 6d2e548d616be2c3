// One manager with one module in a TU of a JIT that follows the
// explicit-instantiation recipe: the manager type is compiled elsewhere
// (JITCM_INSTANTIATE_CODE_MANAGER in one other TU).
#include <jitcm/explicit_instantiation.hpp>

JITCM_EXTERN_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);

#include "one_manager.hpp"

int main() {
  jitcm::code_manager manager;
  return compile_time::use_one_manager(manager);
}
