// expect: jitcm: basic_code_manager's Lookup policy has no member `find(pc) const` returning const jitcm::code*
// The minimal Lookup policy without `find` is refused with that sentence.
#define OMIT_LOOKUP_FIND
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
