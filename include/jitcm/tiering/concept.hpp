// jitcm::tiering_filter: which new code replaces installed code, and which
// code a removal or a memory-pressure flush drops.
#pragma once

#include <concepts>

#include "../base/code.hpp"
#include "../detail/requirement.hpp"
#include "../base/tier.hpp"

namespace jitcm {

/// A tiering policy: pure decisions over code objects, made by a
/// native_module while it holds its own lock.
///
/// | expression                                   | result                 | OPTIONAL/default | guarantees |
/// |----------------------------------------------|------------------------|------------------|------------|
/// | `T t;`                                       |                        | required | each module holds one |
/// | `typename T::module_state`                   |                        | required | default-constructible per-module state the policy decides on (the shipped policies: `tiering::debug_state`, whether a debugger is attached); each module holds one and lets the embedder change it |
/// | `typename T::removal_filter`                 |                        | required | a copyable value naming a set of code objects (`remove_code(filter)`) |
/// | `t.should_install(candidate, installed, s)`  | `bool`                 | required | true if `candidate` (new code for a function) replaces `installed` (the code in the table, or nullptr) in the code table and jump table, given module state `s` |
/// | `t.should_remove(installed, filter)`         | `bool`                 | required | true if code in the code table matches `filter` |
/// | `t.memory_pressure_filter()`                 | `T::removal_filter`    | required | what a memory-pressure flush removes from every module |
/// | `t.knows_tier(x)`                            | `bool`                 | OPTIONAL: defaults to: true (every tier accepted) | whether `x` names one of the policy's tiers; a module refuses function code of another tier with invalid_argument. Read through `tiering::tiering_traits<T>` |
///
/// (`t` is a `const T&`, `x` a `jitcm::tier`, `candidate` a `const code&`, `installed` a
/// `const code*`, `s` a `const T::module_state&`, `filter` a
/// `const T::removal_filter&`.) All three functions are pure: they read their
/// arguments only, so any thread may call them at any time. Removed code
/// falls back to the module's lazy-compile slot.
///
/// A minimal conforming policy ("newest code wins, flush everything"):
///
///     struct newest_wins {
///       struct module_state {};
///       struct removal_filter {};
///       bool should_install(const jitcm::code&, const jitcm::code*, const module_state&) const { return true; }
///       bool should_remove(const jitcm::code&, const removal_filter&) const { return true; }
///       removal_filter memory_pressure_filter() const { return {}; }
///     };
///     static_assert(jitcm::tiering_filter<newest_wins>);
namespace tiering::requirement {

JITCM_REQUIREMENT(default_constructible, "Tiering", "is not default-constructible", std::default_initializable<Policy>);
JITCM_REQUIREMENT(module_state, "Tiering", "has no default-constructible member type `module_state`",
                  std::default_initializable<typename Policy::module_state>);
JITCM_REQUIREMENT(removal_filter, "Tiering", "has no copyable member type `removal_filter`",
                  std::copy_constructible<typename Policy::removal_filter>);
JITCM_REQUIREMENT(
    should_install, "Tiering", "has no member `should_install(candidate, installed, state) const` returning bool",
    requires(const Policy& t, const code& candidate, const code* installed,
             const typename Policy::module_state& state) {
      { t.should_install(candidate, installed, state) } -> std::same_as<bool>;
    });
JITCM_REQUIREMENT(
    should_remove, "Tiering", "has no member `should_remove(code, filter) const` returning bool",
    requires(const Policy& t, const code& c, const typename Policy::removal_filter& filter) {
      { t.should_remove(c, filter) } -> std::same_as<bool>;
    });
JITCM_REQUIREMENT(
    memory_pressure_filter, "Tiering", "has no member `memory_pressure_filter() const` returning removal_filter",
    requires(const Policy& t) {
      { t.memory_pressure_filter() } -> std::same_as<typename Policy::removal_filter>;
    });

}  // namespace tiering::requirement

namespace tiering {
using tiering_requirements =
    jitcm::detail::requirement_list<requirement::default_constructible_piece, requirement::module_state_piece,
                                    requirement::removal_filter_piece, requirement::should_install_piece,
                                    requirement::should_remove_piece, requirement::memory_pressure_filter_piece>;
}  // namespace tiering

template <class T>
concept tiering_filter = tiering::tiering_requirements::satisfied_by<T>;

namespace tiering {

/// What a tiering policy says beyond the required members (the OPTIONAL row
/// above), with the default filled in. Specialise it to describe a policy
/// you cannot change. Thread safety: as the policy's (pure) members.
template <tiering_filter T>
struct tiering_traits {
  [[nodiscard]] static bool knows_tier(const T& policy, jitcm::tier x) noexcept {
    if constexpr (requires {
                    { policy.knows_tier(x) } -> std::convertible_to<bool>;
                  }) {
      return policy.knows_tier(x);
    } else {
      return true;
    }
  }
};

}  // namespace tiering
}  // namespace jitcm
