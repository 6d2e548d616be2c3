// expect: jitcm: basic_code_manager's JumpTable policy has no static constexpr member `data_bytes(n)` returning std::size_t
// The minimal JumpTable policy without `data_bytes` is refused with that sentence.
#define OMIT_JUMP_TABLE_DATA_BYTES
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
