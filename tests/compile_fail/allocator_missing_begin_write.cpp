// expect: jitcm: basic_code_manager's Allocator policy has no member `begin_write(region)` returning jitcm::result<write_scope>
// The minimal Allocator policy without `begin_write` is refused with that sentence.
#define OMIT_ALLOCATOR_BEGIN_WRITE
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
