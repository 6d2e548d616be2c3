// expect: jitcm: basic_code_manager's JumpTable policy has no static member `patch_far(view, index, target)` returning jitcm::result<void>
// The minimal JumpTable policy without `patch_far` is refused with that sentence.
#define OMIT_JUMP_TABLE_PATCH_FAR
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
