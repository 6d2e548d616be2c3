// The five policy concepts a basic_code_manager is made of, in one place.
//
// | concept                    | what it decides                                  | documented in |
// |----------------------------|--------------------------------------------------|---------------|
// | `jitcm::code_allocator`    | where code lives: code spaces, blocks, W^X writes | <jitcm/allocator/concept.hpp> |
// | `jitcm::jump_table_emitter`| the per-function slots callers call              | <jitcm/jump_table/concept.hpp> |
// | `jitcm::code_lookup`       | which code contains a program counter            | <jitcm/lookup/concept.hpp> |
// | `jitcm::tiering_filter`    | which new code is installed, which code is dropped | <jitcm/tiering/concept.hpp> |
// | `jitcm::ref_counting`      | when code that left the table may be freed       | <jitcm/refcount/concept.hpp> |
//
// Each header has the table of required and OPTIONAL expressions (with the
// default an optional one takes, read through the family's traits) and a
// minimal conforming example; tests/core/test_minimal_policies.cpp compiles
// every example into one manager. Each concept is the conjunction of small
// named requirement pieces (detail/requirement.hpp), and basic_code_manager
// diagnoses its policies with the same pieces, one sentence per missing
// member; for instance
//   "jitcm: basic_code_manager's Lookup policy has no member `find(pc) const` returning const jitcm::code*".
//
// The other extension points, documented the same way:
//
// | concept                              | documented in |
// |--------------------------------------|---------------|
// | `jitcm::protection::strategy` (W^X)  | <jitcm/protection/strategy.hpp> |
// | `jitcm::allocator::free_space_policy`| <jitcm/allocator/basic_allocator.hpp> |
// | `jitcm::jump_table::slot_encoding`   | <jitcm/jump_table/slot_encoding.hpp> |
#pragma once

#include "allocator/concept.hpp"           // IWYU pragma: export
#include "jump_table/concept.hpp"          // IWYU pragma: export
#include "lookup/concept.hpp"              // IWYU pragma: export
#include "refcount/concept.hpp"            // IWYU pragma: export
#include "tiering/concept.hpp"             // IWYU pragma: export
#include "allocator/allocator_traits.hpp"  // IWYU pragma: export
#include "jump_table/emitter_traits.hpp"   // IWYU pragma: export
#include "detail/policy_checks.hpp"        // IWYU pragma: export
