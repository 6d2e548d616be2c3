// expect: jitcm: basic_code_manager's Tiering policy has no member `should_remove(code, filter) const` returning bool
// The minimal Tiering policy without `should_remove` is refused with that sentence.
#define OMIT_TIERING_SHOULD_REMOVE
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
