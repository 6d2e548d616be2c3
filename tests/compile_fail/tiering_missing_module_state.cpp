// expect: jitcm: basic_code_manager's Tiering policy has no default-constructible member type `module_state`
// The minimal Tiering policy without `module_state` is refused with that sentence.
#define OMIT_TIERING_MODULE_STATE
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
