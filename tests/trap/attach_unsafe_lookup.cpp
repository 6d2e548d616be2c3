// expect: jitcm::trap::attach: the manager's lookup policy is not async-signal-safe
// A manager whose lookup takes a lock (sorted_map, V8's) cannot be attached to
// the trap handler: the handler would search it inside a signal.
#include <jitcm/code_manager.hpp>
#include <jitcm/presets.hpp>
#include <jitcm/trap_handler.hpp>

int main() {
  jitcm::with_lookup<jitcm::code_manager, jitcm::lookup::sorted_map> manager;
  return jitcm::trap::attach(manager, 0x1000) ? 0 : 1;
}
