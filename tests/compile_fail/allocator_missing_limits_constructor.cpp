// expect: jitcm: basic_code_manager's Allocator policy cannot be constructed from `const jitcm::allocator::module_limits&`
// The minimal Allocator policy without `limits_constructor` is refused with that sentence.
#define OMIT_ALLOCATOR_LIMITS_CONSTRUCTOR
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
