// expect: jitcm: the code_lookup policy must have find(std::uintptr_t) const returning const jitcm::code*
// A lookup policy without find is refused by name when a manager uses it.
#include <jitcm/presets.hpp>

struct lookup_without_find {
  jitcm::result<void> insert(const jitcm::code*) { return {}; }
  jitcm::result<void> erase(const jitcm::code*) { return {}; }
};

jitcm::with_lookup<jitcm::code_manager, lookup_without_find> manager;
