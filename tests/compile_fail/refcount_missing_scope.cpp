// expect: jitcm: basic_code_manager's RefCounting policy has no default-constructible member type `scope`
// The minimal RefCounting policy without `scope` is refused with that sentence.
#define OMIT_REFCOUNT_SCOPE
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
