// expect: jitcm: basic_code_manager's Allocator policy has no member `stats() const` returning jitcm::allocator_stats
// The minimal Allocator policy without `stats` is refused with that sentence.
#define OMIT_ALLOCATOR_STATS
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
