// expect: jitcm: basic_code_manager's Allocator policy has no movable member type `write_scope` with `end()` returning jitcm::result<void>
// The minimal Allocator policy without `write_scope` is refused with that sentence.
#define OMIT_ALLOCATOR_WRITE_SCOPE
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
