// The one place basic_code_manager diagnoses its five policies: every
// requirement piece each policy concept is made of (see
// detail/requirement.hpp) reports its own sentence when it does not hold.
#pragma once

#include "../allocator/concept.hpp"
#include "../jump_table/concept.hpp"
#include "../lookup/concept.hpp"
#include "../refcount/concept.hpp"
#include "../tiering/concept.hpp"
#include "requirement.hpp"

namespace jitcm::detail {

/// True when all five policies conform; otherwise every missing member of
/// each has failed a static_assert naming the policy and the member.
template <class Allocator, class JumpTable, class Lookup, class Tiering, class RefCounting>
consteval bool diagnose_policies() {
  return all_of_evaluated(
      allocator::allocator_requirements::diagnose<Allocator>(), jump_table::emitter_requirements::diagnose<JumpTable>(),
      lookup::lookup_requirements::diagnose<Lookup>(), tiering::tiering_requirements::diagnose<Tiering>(),
      refcount::ref_counting_requirements::diagnose<RefCounting>());
}

}  // namespace jitcm::detail
