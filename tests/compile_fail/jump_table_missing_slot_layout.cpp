// expect: jitcm: basic_code_manager's JumpTable policy says `has_machine_code` but has no static members `near_slot_offset(i)`, `lazy_slot_offset(i)` and `lazy_slot_size`
// The minimal JumpTable policy without `slot_layout` is refused with that sentence.
#define OMIT_JUMP_TABLE_SLOT_LAYOUT
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
