// Whether an allocator's W^X strategy may be used in this process (hardened
// systems refuse RWX pages or executable shared memory), probed once.
#pragma once

#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <type_traits>

namespace jitcm::testing {

inline const protection::availability& available_strategies() {
  static const protection::availability a = protection::probe();
  return a;
}

template <class A>
bool usable() {
  using P = typename A::protection_type;
  if constexpr (std::is_same_v<P, protection::mprotect_toggle>)
    return !available_strategies().mprotect_toggle;
  else if constexpr (std::is_same_v<P, protection::rwx>)
    return !available_strategies().rwx;
  else
    return !available_strategies().dual_mapping;
}

}  // namespace jitcm::testing
