// expect: jitcm: basic_code_manager's RefCounting policy cannot be constructed from a jitcm::refcount::free_callback
// The minimal RefCounting policy without `release_constructor` is refused with that sentence.
#define OMIT_REFCOUNT_RELEASE_CONSTRUCTOR
#include "../core/minimal_policies.hpp"

#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                          minimal::keep_everything>
    manager;
