// expect: jitcm: basic_code_manager's Tiering policy has no member `memory_pressure_filter() const` returning removal_filter
// The minimal Tiering policy without `memory_pressure_filter` is refused with that sentence.
#define OMIT_TIERING_MEMORY_PRESSURE_FILTER
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
