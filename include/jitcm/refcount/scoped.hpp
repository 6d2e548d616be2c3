// refcount::scoped: V8's scheme — counts, a thread-local scope, a
// potentially-dead set, and freeing after the embedder reports its stacks.
#pragma once

#include "code_ref_scope.hpp"
#include "free_callback.hpp"

namespace jitcm::refcount {

/// The default ref-counting policy, as V8's `WasmCodeRefScope` and
/// `WasmEngine::ReportLiveCodeForGC`:
/// - a module owns its code: each code object starts with one reference,
///   the code table's;
/// - `hold(c)` adds a reference owned by the thread's innermost
///   `code_ref_scope`, dropped when the scope ends;
/// - `retire(c)` (code left the table) makes `c` *potentially dead*: the
///   table's reference moves to the potentially-dead set;
/// - `collect(live)`: the embedder reports the code its stacks are still
///   running (frames hold no references); potentially-dead code not in
///   `live` is dead and loses the set's reference. Dead code that no scope
///   holds is released now; dead code a scope still holds is released by the
///   first `collect` after that scope ends.
///
/// So retired code stays mapped while any thread runs it (reported in
/// `live`) or holds it (a scope), and is freed by the first collect after
/// neither is true. Call `collect` where no thread is between finding code
/// and holding it (V8 runs it in a GC, with every thread at a safepoint).
///
/// Safe for jump-table and lazy-trampoline calls: a thread inside code it
/// entered through a slot has that code on its stack, and the embedder
/// reports it in `live` (or calls `collect` only while every thread that
/// runs JIT code is stopped outside it, at a safepoint). Until the first
/// `collect`, nothing retired is freed at all.
///
/// Thread safety: every member may be called from any thread concurrently.
/// `hold` touches only atomics and the thread's own scope; `retire`,
/// `collect`, `retired_count` and scope ends take the policy's mutex. The
/// release callback runs inside `collect`, with that mutex held: it must
/// not call back into the policy.
class scoped : public detail::counting_policy {
 public:
  explicit scoped(free_callback free_code) noexcept : counting_policy{free_code, detail::free_rule::after_collect} {}
};

}  // namespace jitcm::refcount
