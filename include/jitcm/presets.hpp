// Ready-made code managers, and aliases that replace one policy of a manager.
//
//   using my_manager = jitcm::with_lookup<jitcm::code_manager, jitcm::lookup::lock_free_array>;
//   using v8_manager = jitcm::with_tiering<jitcm::presets::v8_like, jitcm::tiering::v8>;
//
// | alias                          | result |
// |--------------------------------|--------|
// | `with_allocator<M, A>`         | M with its allocator replaced by A |
// | `with_jump_table<M, J>`        | M with its jump-table emitter replaced by J |
// | `with_lookup<M, L>`            | M with its lookup policy replaced by L |
// | `with_tiering<M, T>`           | M with its tiering policy replaced by T |
// | `with_ref_counting<M, R>`      | M with its ref-counting policy replaced by R |
//
// M is any basic_code_manager; the new policy is checked like any other
// (a policy that does not conform is named in one sentence).
#pragma once

#include "allocator/bump.hpp"
#include "allocator/pool.hpp"
#include "code_manager.hpp"
#include "jump_table/portable.hpp"
#include "lookup/sorted_map.hpp"
#include "protection/dual_mapping.hpp"
#include "refcount/never.hpp"
#include "tiering/v8.hpp"

namespace jitcm {

namespace detail {

template <class Manager>
struct manager_policies;

template <class A, class J, class L, class T, class R>
struct manager_policies<basic_code_manager<A, J, L, T, R>> {
  template <class X>
  using with_allocator = basic_code_manager<X, J, L, T, R>;
  template <class X>
  using with_jump_table = basic_code_manager<A, X, L, T, R>;
  template <class X>
  using with_lookup = basic_code_manager<A, J, X, T, R>;
  template <class X>
  using with_tiering = basic_code_manager<A, J, L, X, R>;
  template <class X>
  using with_ref_counting = basic_code_manager<A, J, L, T, X>;
};

}  // namespace detail

template <class Manager, class Allocator>
using with_allocator = typename detail::manager_policies<Manager>::template with_allocator<Allocator>;
template <class Manager, class JumpTable>
using with_jump_table = typename detail::manager_policies<Manager>::template with_jump_table<JumpTable>;
template <class Manager, class Lookup>
using with_lookup = typename detail::manager_policies<Manager>::template with_lookup<Lookup>;
template <class Manager, class Tiering>
using with_tiering = typename detail::manager_policies<Manager>::template with_tiering<Tiering>;
template <class Manager, class RefCounting>
using with_ref_counting = typename detail::manager_policies<Manager>::template with_ref_counting<RefCounting>;

/// Managers for common situations. Every preset is safe for threads that
/// run published code while others publish, retire, lazily compile and
/// flush (tests/core/test_stress.cpp runs each one so).
namespace presets {

/// V8's WebAssembly code manager: its pool allocator, its tiering rules
/// (Liftoff, TurboFan, debugging), its sorted-map lookup and scoped ref counting.
using v8_like =
    basic_code_manager<allocator::pool<>, jump_table::host, lookup::sorted_map, tiering::v8, refcount::scoped>;

/// For short-lived JITs (a query, a regex): a bump allocator and code that is
/// never freed before its module goes.
using short_lived = with_ref_counting<with_allocator<code_manager, allocator::bump<>>, refcount::never>;

/// For interpreters and CPUs without an emitter: a table of pointers instead
/// of machine-code slots.
using portable = with_jump_table<code_manager, jump_table::portable>;

/// Profilers, crash handlers and trap handlers: a lookup readable from a
/// signal handler, with V8's reclamation (safe for code threads entered
/// through slots: code is freed only after `collect` is told the stacks).
/// The default manager is exactly that now (lookup::segment_map is
/// async-signal-safe); the name stays for code that asks for the property.
using signal_safe = code_manager;

#if defined(JITCM_HAS_DUAL_MAPPING)
/// Code written while other threads run code of the same pages (tier-up in
/// the background): dual mapping, so no page ever changes protection.
using concurrent_tier_up = with_allocator<code_manager, allocator::default_allocator<protection::dual_mapping>>;
#endif

}  // namespace presets
}  // namespace jitcm
