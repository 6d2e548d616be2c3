// expect: jitcm: the tiering_filter policy must have a removal_filter type
// A tiering policy that cannot name what to remove is refused by name.
#include <jitcm/tiering/concept.hpp>

struct tiering_without_removal_filter {
  struct module_state {};
  bool should_install(const jitcm::code&, const jitcm::code*, const module_state&) const { return true; }
};

static_assert(jitcm::detail::check_tiering_filter<tiering_without_removal_filter>());
