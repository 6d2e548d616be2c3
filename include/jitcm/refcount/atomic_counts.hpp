// refcount::atomic_counts: plain reference counts; code is freed as soon as
// nothing holds it.
#pragma once

#include "code_ref_scope.hpp"
#include "free_callback.hpp"

namespace jitcm::refcount {

/// Like `refcount::scoped` without the stack report: retired code is
/// released the moment its count reaches zero — in `retire` if no scope
/// holds it, else when the last scope holding it ends (on that thread).
/// Stacks are not consulted (`collect` releases nothing), so every thread
/// that may run code must hold it in a `code_ref_scope` for as long as it
/// may run it.
///
/// NOT SAFE WITH JUMP-TABLE CALLS. A thread that calls through a slot (or
/// is sent on by the lazy-compile trampoline) cannot hold the code it is
/// about to run: between reading the slot and arriving, the code may be
/// replaced and freed. Use this policy only where every call into JIT code
/// goes to code the caller holds (`installed(i)` inside a scope, then call
/// `instruction_start()` directly until the scope ends), or with a module
/// whose code is never replaced or removed while threads run it. No preset
/// uses it; `refcount::scoped` (the default) and `refcount::never` are safe
/// for slot calls.
///
/// Thread safety: every member may be called from any thread concurrently.
/// The release callback runs inside `retire` or a scope's end, with the
/// policy's mutex held, on whichever thread dropped the last reference: it
/// must be thread-safe and must not call back into the policy. Once the
/// policy is destroyed, scopes still holding its code end without releasing
/// or touching it.
class atomic_counts : public detail::counting_policy {
 public:
  explicit atomic_counts(free_callback free_code) noexcept : counting_policy{free_code, detail::free_rule::at_zero} {}
};

}  // namespace jitcm::refcount
