// expect: jitcm: basic_code_manager's Allocator policy has no member `code_spaces() const` returning a sized range of jitcm::code_space
// The minimal Allocator policy without `code_spaces` is refused with that sentence.
#define OMIT_ALLOCATOR_CODE_SPACES
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
