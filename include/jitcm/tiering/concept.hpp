// jitcm::tiering_filter: which new code replaces installed code, and which
// code a removal or a memory-pressure flush drops.
#pragma once

#include <concepts>

#include "../code.hpp"

namespace jitcm {

/// A tiering policy: pure decisions over code objects, made by a
/// native_module while it holds its own lock.
///
/// | expression                                   | result                 | guarantees |
/// |----------------------------------------------|------------------------|------------|
/// | `typename T::module_state`                   |                        | default-constructible per-module state the policy decides on (the shipped policies: `tiering::debug_state`, whether a debugger is attached); each module holds one and lets the embedder change it |
/// | `typename T::removal_filter`                 |                        | a copyable value naming a set of code objects (`remove_code(filter)`) |
/// | `t.should_install(candidate, installed, s)`  | `bool`                 | true if `candidate` (new code for a function) replaces `installed` (the code in the table, or nullptr) in the code table and jump table, given module state `s` |
/// | `t.should_remove(installed, filter)`         | `bool`                 | true if code in the code table matches `filter` |
/// | `t.memory_pressure_filter()`                 | `T::removal_filter`    | what a memory-pressure flush removes from every module |
/// | `t.knows_tier(x)` (OPTIONAL)                 | `bool`                 | whether `x` names one of the policy's tiers; a module refuses function code of another tier with invalid_argument. OPTIONAL: defaults to true (every tier accepted) |
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
template <class T>
concept tiering_filter =
    std::default_initializable<T> &&
    requires {
      typename T::module_state;
      typename T::removal_filter;
    } &&
    std::default_initializable<typename T::module_state> &&
    std::copy_constructible<typename T::removal_filter> &&
    requires(const T& t, const code& candidate, const code* installed,
             const typename T::module_state& state, const typename T::removal_filter& filter) {
      { t.should_install(candidate, installed, state) } -> std::same_as<bool>;
      { t.should_remove(candidate, filter) } -> std::same_as<bool>;
      { t.memory_pressure_filter() } -> std::same_as<typename T::removal_filter>;
    };

namespace detail {

template <class T>
concept has_tiering_types = requires {
  typename T::module_state;
  typename T::removal_filter;
};

template <class T, bool = has_tiering_types<T>>
struct tiering_members {
  static constexpr bool install = false;
  static constexpr bool remove = false;
  static constexpr bool pressure = false;
};

template <class T>
struct tiering_members<T, true> {
  using state = typename T::module_state;
  using filter = typename T::removal_filter;
  static constexpr bool install = requires(const T& t, const code& c, const code* i, const state& s) {
    { t.should_install(c, i, s) } -> std::same_as<bool>;
  };
  static constexpr bool remove = requires(const T& t, const code& c, const filter& f) {
    { t.should_remove(c, f) } -> std::same_as<bool>;
  };
  static constexpr bool pressure = requires(const T& t) {
    { t.memory_pressure_filter() } -> std::same_as<filter>;
  };
};

/// Checks a tiering policy member by member, so that a policy that does not
/// conform is reported in one plain sentence naming what it lacks.
/// `basic_code_manager` does `static_assert(detail::check_tiering_filter<T>());`.
template <class T>
consteval bool check_tiering_filter() {
  static_assert(std::default_initializable<T>,
                "jitcm: the tiering_filter policy must be default-constructible");
  static_assert(requires { typename T::module_state; },
                "jitcm: the tiering_filter policy must have a module_state type");
  static_assert(requires { typename T::removal_filter; },
                "jitcm: the tiering_filter policy must have a removal_filter type");
  if constexpr (has_tiering_types<T>) {
    static_assert(std::default_initializable<typename T::module_state>,
                  "jitcm: the tiering_filter policy's module_state must be default-constructible");
    static_assert(std::copy_constructible<typename T::removal_filter>,
                  "jitcm: the tiering_filter policy's removal_filter must be copyable");
    static_assert(tiering_members<T>::install,
                  "jitcm: the tiering_filter policy must have should_install(const code&, const code*, "
                  "const module_state&) const returning bool");
    static_assert(tiering_members<T>::remove,
                  "jitcm: the tiering_filter policy must have should_remove(const code&, "
                  "const removal_filter&) const returning bool");
    static_assert(tiering_members<T>::pressure,
                  "jitcm: the tiering_filter policy must have memory_pressure_filter() const "
                  "returning removal_filter");
  }
  return tiering_filter<T>;
}

}  // namespace detail
}  // namespace jitcm
