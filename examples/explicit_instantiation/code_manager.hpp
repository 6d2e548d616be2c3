// The JIT's one manager type, compiled once: every TU that includes this
// header uses it without compiling its out-of-line members nor jitcm's
// non-template functions (code_manager.cpp does both, once). See README,
// "Compile time".
//
// The manager has policies of its own (the lock-free array lookup instead of
// the segment map): that is what the recipe is for. jitcm::code_manager
// itself needs no recipe under separate compilation, since
// <jitcm/separate_compilation.hpp> compiles it.
#pragma once

#include <jitcm/explicit_instantiation.hpp>
#include <jitcm/lookup/lock_free_array.hpp>

/// The five policies of example::manager_type, in order.
#define EXAMPLE_MANAGER_POLICIES                                                                        \
  ::jitcm::allocator::default_allocator<>, ::jitcm::jump_table::host, ::jitcm::lookup::lock_free_array, \
      ::jitcm::tiering::two_tier, ::jitcm::refcount::scoped

namespace example {
using manager_type = jitcm::basic_code_manager<EXAMPLE_MANAGER_POLICIES>;
}  // namespace example

JITCM_EXTERN_CODE_MANAGER(EXAMPLE_MANAGER_POLICIES);
