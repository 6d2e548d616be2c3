// allocator::allocator_traits: the optional members of a code_allocator,
// with their defaults filled in. The core reads these, never the
// allocator's optional members directly.
#pragma once

#include <concepts>

#include "concept.hpp"

namespace jitcm::allocator {

/// What an allocator says beyond the required members (see the OPTIONAL
/// row of the table in concept.hpp). Specialise it to describe an allocator
/// you cannot change.
///
/// | expression | result | default when A does not say |
/// |------------|--------|-----------------------------|
/// | `write_revokes_execute(a)` | `bool` | `true` (the safe assumption: a write scope may take execute permission away) |
///
/// Thread safety: any thread; the answer never changes during `a`'s life.
template <code_allocator A>
struct allocator_traits {
  [[nodiscard]] static bool write_revokes_execute(const A& a) noexcept {
    if constexpr (requires {
                    { a.write_revokes_execute() } -> std::convertible_to<bool>;
                  }) {
      return a.write_revokes_execute();
    } else {
      return true;
    }
  }
};

}  // namespace jitcm::allocator
