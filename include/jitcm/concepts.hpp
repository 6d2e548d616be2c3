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
// Each header has the table of required expressions and a minimal
// conforming example. basic_code_manager checks its policies with the
// detail::check_* helpers, which name the policy and the missing member in
// one sentence; for instance
//   "jitcm: the code_lookup policy must have find(std::uintptr_t) const returning const jitcm::code*".
#pragma once

#include "allocator/concept.hpp"     // IWYU pragma: export
#include "jump_table/concept.hpp"    // IWYU pragma: export
#include "lookup/concept.hpp"        // IWYU pragma: export
#include "refcount/concept.hpp"      // IWYU pragma: export
#include "tiering/concept.hpp"       // IWYU pragma: export
#include "detail/policy_checks.hpp"  // IWYU pragma: export
