// expect: jitcm: basic_code_manager's Allocator policy has no member type `block` with executable(), writable(), size() and region()
// The minimal Allocator policy without `block` is refused with that sentence.
#define OMIT_ALLOCATOR_BLOCK
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
