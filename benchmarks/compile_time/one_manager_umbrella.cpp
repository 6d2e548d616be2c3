// The TU issue 12 measured: the umbrella header and one manager with one module.
#include <jitcm/jitcm.hpp>

#include "one_manager.hpp"

int main() {
  jitcm::code_manager manager;
  return compile_time::use_one_manager(manager);
}
