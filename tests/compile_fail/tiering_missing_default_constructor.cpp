// expect: jitcm: basic_code_manager's Tiering policy is not default-constructible
// The minimal Tiering policy without `default_constructor` is refused with that sentence.
#define OMIT_TIERING_DEFAULT_CONSTRUCTOR
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
