// jitcm::ref_counting: when code that left the code table may be freed.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "../base/code.hpp"
#include "../detail/requirement.hpp"
#include "free_callback.hpp"

namespace jitcm {

/// A ref-counting policy. Each native_module owns one, built with the
/// callback that frees a code object's memory. A module owns its code; code
/// that leaves the code table (replaced by better code, removed, or never
/// installed) is *retired* and handed to the policy, which calls the release
/// callback once no thread can still be running or using it.
///
/// | expression          | result        | OPTIONAL/default | guarantees |
/// |---------------------|---------------|------------------|------------|
/// | `R r{free_code};`     |               | required | `free_code` is a `refcount::free_callback` |
/// | `typename R::scope` |               | required | RAII, default-constructible: while an object lives on a thread, code that thread `hold`s is not freed (`refcount::code_ref_scope` for the counting policies) |
/// | `r.hold(c)`         | `bool`        | required | `c` (alive: installed, or already held by this thread) cannot be freed before the calling thread's innermost scope ends; false (nothing held) if the policy needs a scope and the thread has none open |
/// | `r.retire(c)`       | `void`        | required | `c` left the code table; the reference its creator held passes to the policy. Called once per code object |
/// | `r.collect(live)`   | `std::size_t` | required | the embedder reports the code its stacks still run (`live`); every retired code the policy's rule now allows to go is released through the callback, on the calling thread, before `collect` returns; returns how many |
/// | `cr.retired_count()`| `std::size_t` | required | retired code not released yet |
///
/// No member is optional, so there are no ref-counting traits.
///
/// (`r` is an `R&`, `cr` a `const R&`, `c` a `const code&`, `live` a
/// `std::span<const code* const>`.) Every operation may be called from any
/// thread concurrently. The release callback runs inside `retire`, `collect`
/// or (for `refcount::atomic_counts`) a scope's end, possibly with the
/// policy's lock held: it must not call back into the policy, and the module
/// must not hold a lock the callback takes while it calls `retire` or
/// `collect`. Destroying the policy releases nothing and waits for a callback
/// in flight: the module frees whatever code it still owns itself, and
/// scopes that still hold such code end without touching it.
///
/// A minimal conforming policy (free nothing until the module goes):
///
///     struct keep_everything {
///       struct scope {};
///       explicit keep_everything(jitcm::refcount::free_callback) {}
///       bool hold(const jitcm::code&) { return true; }
///       void retire(const jitcm::code&) { ++retired_; }
///       std::size_t collect(std::span<const jitcm::code* const>) { return 0; }
///       std::size_t retired_count() const { return retired_; }
///       std::atomic<std::size_t> retired_{0};
///     };
///     static_assert(jitcm::ref_counting<keep_everything>);
namespace refcount::requirement {

JITCM_REQUIREMENT(release_constructor, "RefCounting", "cannot be constructed from a jitcm::refcount::free_callback",
                  std::constructible_from<Policy, free_callback>);
JITCM_REQUIREMENT(scope, "RefCounting", "has no default-constructible member type `scope`",
                  std::default_initializable<typename Policy::scope>);
JITCM_REQUIREMENT(
    hold, "RefCounting", "has no member `hold(code)` returning bool", requires(Policy& r, const code& c) {
      { r.hold(c) } -> std::same_as<bool>;
    });
JITCM_REQUIREMENT(
    retire, "RefCounting", "has no member `retire(code)` returning void", requires(Policy& r, const code& c) {
      { r.retire(c) } -> std::same_as<void>;
    });
JITCM_REQUIREMENT(
    collect, "RefCounting", "has no member `collect(live)` returning std::size_t",
    requires(Policy& r, std::span<const code* const> live) {
      { r.collect(live) } -> std::same_as<std::size_t>;
    });
JITCM_REQUIREMENT(
    retired_count, "RefCounting", "has no member `retired_count() const` returning std::size_t",
    requires(const Policy& r) {
      { r.retired_count() } -> std::same_as<std::size_t>;
    });

}  // namespace refcount::requirement

namespace refcount::detail {

/// R::scope, or an empty stand-in when R has none, so that a manager's class
/// still instantiates and its constructor's check names what is missing.
template <class R>
struct scope_of {
  struct missing {};
  using type = missing;
};
template <class R>
requires requires { typename R::scope; }
struct scope_of<R> {
  using type = typename R::scope;
};

}  // namespace refcount::detail

namespace refcount {
using ref_counting_requirements =
    jitcm::detail::requirement_list<requirement::release_constructor_piece, requirement::scope_piece,
                                    requirement::hold_piece, requirement::retire_piece, requirement::collect_piece,
                                    requirement::retired_count_piece>;
}  // namespace refcount

template <class R>
concept ref_counting = refcount::ref_counting_requirements::satisfied_by<R>;

}  // namespace jitcm
