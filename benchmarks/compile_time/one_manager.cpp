// One manager with one module, including only the header it needs.
#include <jitcm/code_manager.hpp>

#include "one_manager.hpp"

int main() {
  jitcm::code_manager manager;
  return compile_time::use_one_manager(manager);
}
