// jitcm::ref_counting: when code that left the code table may be freed.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "../code.hpp"
#include "release_callback.hpp"

namespace jitcm {

/// A ref-counting policy. Each native_module owns one, built with the
/// callback that frees a code object's memory. A module owns its code; code
/// that leaves the code table (replaced by better code, removed, or never
/// installed) is *retired* and handed to the policy, which calls the release
/// callback once no thread can still be running or using it.
///
/// | expression          | result        | guarantees |
/// |---------------------|---------------|------------|
/// | `R r{release};`     |               | `release` is a `refcount::release_callback` |
/// | `typename R::scope` |               | RAII, default-constructible: while an object lives on a thread, code that thread `hold`s is not freed (`refcount::code_ref_scope` for the counting policies) |
/// | `r.hold(c)`         | `bool`        | `c` (alive: installed, or already held by this thread) cannot be freed before the calling thread's innermost scope ends; false (nothing held) if the policy needs a scope and the thread has none open |
/// | `r.retire(c)`       | `void`        | `c` left the code table; the reference its creator held passes to the policy. Called once per code object |
/// | `r.collect(live)`   | `std::size_t` | the embedder reports the code its stacks still run (`live`); every retired code the policy's rule now allows to go is released through the callback, on the calling thread, before `collect` returns; returns how many |
/// | `cr.retired_count()`| `std::size_t` | retired code not released yet |
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
///       explicit keep_everything(jitcm::refcount::release_callback) {}
///       bool hold(const jitcm::code&) { return true; }
///       void retire(const jitcm::code&) { ++retired_; }
///       std::size_t collect(std::span<const jitcm::code* const>) { return 0; }
///       std::size_t retired_count() const { return retired_; }
///       std::atomic<std::size_t> retired_{0};
///     };
///     static_assert(jitcm::ref_counting<keep_everything>);
template <class R>
concept ref_counting =
    std::constructible_from<R, refcount::release_callback> &&
    requires { typename R::scope; } &&
    std::default_initializable<typename R::scope> &&
    requires(R& r, const R& cr, const code& c, std::span<const code* const> live) {
      { r.hold(c) } -> std::same_as<bool>;
      { r.retire(c) } -> std::same_as<void>;
      { r.collect(live) } -> std::same_as<std::size_t>;
      { cr.retired_count() } -> std::same_as<std::size_t>;
    };

namespace detail {

/// Checks a ref-counting policy member by member, so that a policy that does
/// not conform is reported in one plain sentence naming what it lacks.
/// `basic_code_manager` does `static_assert(detail::check_ref_counting<R>());`.
template <class R>
consteval bool check_ref_counting() {
  static_assert(std::constructible_from<R, refcount::release_callback>,
                "jitcm: the ref_counting policy must be constructible from a refcount::release_callback");
  static_assert(requires { typename R::scope; },
                "jitcm: the ref_counting policy must have a scope type");
  if constexpr (requires { typename R::scope; }) {
    static_assert(std::default_initializable<typename R::scope>,
                  "jitcm: the ref_counting policy's scope must be default-constructible");
  }
  static_assert(requires(R& r, const code& c) { { r.hold(c) } -> std::same_as<bool>; },
                "jitcm: the ref_counting policy must have hold(const code&) returning bool");
  static_assert(requires(R& r, const code& c) { { r.retire(c) } -> std::same_as<void>; },
                "jitcm: the ref_counting policy must have retire(const code&) returning void");
  static_assert(requires(R& r, std::span<const code* const> live) {
                  { r.collect(live) } -> std::same_as<std::size_t>;
                },
                "jitcm: the ref_counting policy must have collect(std::span<const code* const>) "
                "returning std::size_t");
  static_assert(requires(const R& r) { { r.retired_count() } -> std::same_as<std::size_t>; },
                "jitcm: the ref_counting policy must have retired_count() const returning std::size_t");
  return ref_counting<R>;
}

}  // namespace detail
}  // namespace jitcm
