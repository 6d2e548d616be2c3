// expect: jitcm: the tiering_filter policy must have should_remove(const code&, const removal_filter&) const returning bool
// A tiering policy without should_remove is refused by name when a manager uses it.
#include <jitcm/presets.hpp>

struct tiering_without_should_remove {
  struct module_state {};
  struct removal_filter {};
  bool should_install(const jitcm::code&, const jitcm::code*, const module_state&) const { return true; }
  removal_filter memory_pressure_filter() const { return {}; }
};

jitcm::with_tiering<jitcm::code_manager, tiering_without_should_remove> manager;
