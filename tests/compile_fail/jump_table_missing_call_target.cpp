// expect: jitcm: basic_code_manager's JumpTable policy has no static member `call_target(view, index)` returning std::uintptr_t
// The minimal JumpTable policy without `call_target` is refused with that sentence.
#define OMIT_JUMP_TABLE_CALL_TARGET
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
