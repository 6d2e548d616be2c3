// basic_code_manager: every module of a JIT, program-counter lookup across
// them, and committed-memory accounting with a memory-pressure hook (V8's
// WasmCodeManager).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "allocator/commit_budget.hpp"
#include "allocator/default_allocator.hpp"
#include "base/code.hpp"
#include "code_observer.hpp"
#include "concepts.hpp"
#include "detail/fatal.hpp"
#include "fwd.hpp"
#include "jump_table/host.hpp"
#include "lookup/segment_map.hpp"
#include "native_module.hpp"
#include "observe/environment.hpp"  // JITCM_PERF / JITCM_GDB
#include "refcount/scoped.hpp"
#include "base/result.hpp"
#include "tiering/two_tier.hpp"

namespace jitcm {

/// Called when committed code memory passes the critical threshold, after
/// every module's memory-pressure flush: the embedder's chance to drop more
/// (collect with its stacks, throw away whole modules). A function pointer
/// and a context, as everywhere in jitcm.
struct memory_pressure_callback {
  void (*function)(void* context, std::size_t committed) noexcept = nullptr;
  void* context = nullptr;
};

/// How a code manager limits committed code memory.
struct code_manager_options {
  /// Committed bytes of all modules together (code spaces' pages, jump
  /// tables included); 0 for no limit. Allocations beyond it fail with
  /// errc::limit_exceeded.
  std::size_t max_committed = 0;
  /// When committed memory passes this, the memory-pressure flush runs and
  /// the threshold moves halfway from the committed bytes to the maximum (as
  /// V8 does). 0: half of max_committed; with no maximum, no threshold.
  std::size_t critical_committed = 0;
  memory_pressure_callback on_memory_pressure{};
};

/// The manager's counters.
struct code_manager_stats {
  std::size_t modules = 0;
  std::size_t committed = 0;           ///< bytes committed by all modules
  std::size_t maximum = 0;             ///< max_committed (0: unlimited)
  std::size_t critical_threshold = 0;  ///< the threshold now (0: none)
  std::size_t memory_pressure_events = 0;
};

/// All the code of a JIT: creates and destroys native modules, finds the
/// code containing a program counter, accounts committed memory across
/// modules, and tells observers about code as it comes and goes.
///
/// The five policies (see <jitcm/concepts.hpp>):
///   Allocator   — jitcm::code_allocator      (each module owns one)
///   JumpTable   — jitcm::jump_table_emitter  (slots of every module)
///   Lookup      — jitcm::code_lookup         (one for the manager)
///   Tiering     — jitcm::tiering_filter      (decisions of every module)
///   RefCounting — jitcm::ref_counting        (each module owns one)
/// A policy that does not conform stops compilation with one sentence
/// naming the policy and what it lacks.
///
/// Memory pressure: when an allocation leaves more committed than the
/// critical threshold, the allocating thread (with no module lock held) runs
/// every module's flush_for_memory_pressure, then the embedder's callback,
/// then moves the threshold to committed + (maximum - committed) / 2. One
/// thread flushes at a time; others passing the threshold meanwhile go on.
///
/// Lifetime: every module must be destroyed before its manager; a manager
/// destroyed while one of its modules lives stops the program with a
/// one-line message naming the mistake.
///
/// Thread safety: every member may be called from any thread concurrently.
/// The module list is guarded by `modules_mutex_`, held only to copy the
/// list or to add or remove a module: collect, flush and
/// estimate_memory_use work on a copy, and a module being destroyed waits
/// until no such pass can still be using it. So no manager call waits for
/// a module's lock while holding the list (see native_module for the whole
/// lock order).
template <class Allocator = allocator::default_allocator<>, class JumpTable = jump_table::host,
          class Lookup = lookup::segment_map, class Tiering = tiering::two_tier, class RefCounting = refcount::scoped>
class basic_code_manager {
 public:
  using allocator_type = Allocator;
  using jump_table_type = JumpTable;
  using lookup_type = Lookup;
  using tiering_type = Tiering;
  using ref_counting_type = RefCounting;
  using module = native_module<Allocator, JumpTable, Lookup, Tiering, RefCounting>;
  using module_ptr = std::unique_ptr<module>;
  /// Open one around code the thread looks up and uses (see the ref-counting policy).
  using code_ref_scope = typename refcount::detail::scope_of<RefCounting>::type;

  basic_code_manager() : basic_code_manager(code_manager_options{}) {}
  explicit basic_code_manager(const code_manager_options& options);
  basic_code_manager(const basic_code_manager&) = delete;
  basic_code_manager& operator=(const basic_code_manager&) = delete;
  ~basic_code_manager() {
    std::lock_guard lock{modules_mutex_};
    if (!modules_.empty()) {
      detail::fatal(
          "jitcm: a basic_code_manager was destroyed while modules it created were alive; "
          "destroy every module before its manager");
    }
  }

  /// A new module with `options` (see module_options). Errors: as
  /// native_module::create (invalid_argument, limit_exceeded, the
  /// allocator's). Destroy the module (the pointer) to destroy it.
  [[nodiscard]] result<module_ptr> new_module(const module_options& options) {
    const detail::manager_services<Lookup> services{
        .lookup = &lookup_,
        .observers = &observers_,
        .budget = &budget_,
        .manager = this,
        .committed_grew = &committed_grew_thunk,
        .module_destroyed = &module_destroyed_thunk,
    };
    auto created = module::create(services, options);
    if (!created) return forward_error(created);
    std::lock_guard lock{modules_mutex_};
    modules_.push_back(created->get());
    module_count_.store(modules_.size(), std::memory_order_relaxed);
    return std::move(*created);
  }

  /// The code whose instructions contain `pc`, or nullptr (also for null,
  /// one past the end of code, and addresses no module owns). Retired code
  /// is found until it is freed. Nothing is held: the pointer is valid only
  /// while the code cannot be freed — the caller runs it (a stack walk at a
  /// safepoint, reporting to collect), or nothing retires code meanwhile.
  /// To use what you find elsewhere, use lookup(pc, scope). Async-signal-safe
  /// if the Lookup policy's find is (the trap handler and profilers use this).
  [[nodiscard]] const code* lookup(std::uintptr_t pc) const noexcept { return lookup_.find(pc); }

  /// As lookup(pc), and holds what it finds in `scope`, which must be the
  /// calling thread's innermost scope: valid until that scope ends, under
  /// every ref-counting policy. nullptr also for code being freed.
  ///
  ///     {
  ///       manager::code_ref_scope scope;
  ///       if (const jitcm::code* c = manager.lookup(pc, scope)) report(c->name());
  ///     }
  [[nodiscard]] const code* lookup(std::uintptr_t pc, code_ref_scope& scope) const {
    (void)scope;  // a witness that one is open: hold() adds to the innermost scope
    std::lock_guard lock{modules_mutex_};
    for (const module* m : modules_) {
      if (m->contains(pc)) return m->find_and_hold(pc);
    }
    return nullptr;
  }

  /// Reports the code the embedder's stacks still run to every module;
  /// returns how many retired code objects were freed.
  std::size_t collect(std::span<const code* const> live) {
    std::size_t freed = 0;
    for_each_module([&](module& m) { freed += m.collect(live); });
    return freed;
  }

  /// Runs the memory-pressure flush on every module now, as passing the
  /// critical threshold does (without moving the threshold or calling the
  /// callback). Returns what was removed.
  removed_code flush_for_memory_pressure() {
    removed_code total;
    for_each_module([&](module& m) {
      const removed_code removed = m.flush_for_memory_pressure();
      total.count += removed.count;
      total.code_bytes += removed.code_bytes;
      total.metadata_bytes += removed.metadata_bytes;
    });
    return total;
  }

  /// Bytes this manager's modules use: committed code memory plus the
  /// code objects, their metadata, the code tables and the modules.
  [[nodiscard]] std::size_t estimate_memory_use() const {
    std::size_t bytes = sizeof(*this);
    for_each_module([&](module& m) {
      const module_stats s = m.stats();
      bytes += sizeof(module*) + sizeof(module) + s.memory.committed + s.metadata_bytes +
               s.code_objects * sizeof(code) + std::size_t{s.functions - s.imported} * sizeof(std::atomic<const code*>);
    });
    return bytes;
  }

  /// The lookup policy itself, for its own extras (statistics, say).
  [[nodiscard]] const Lookup& lookup_policy() const noexcept { return lookup_; }

  void add_observer(code_observer& observer) { observers_.add(observer); }
  /// Returns whether `observer` was registered. Once this returns, it is not called again.
  bool remove_observer(code_observer& observer) { return observers_.remove(observer); }

  [[nodiscard]] std::size_t committed() const noexcept { return budget_.committed(); }
  [[nodiscard]] std::size_t critical_threshold() const noexcept { return critical_.load(std::memory_order_relaxed); }

  [[nodiscard]] code_manager_stats stats() const {
    code_manager_stats s;
    s.modules = module_count_.load(std::memory_order_relaxed);
    s.committed = budget_.committed();
    s.maximum = budget_.maximum();
    s.critical_threshold = critical_.load(std::memory_order_relaxed);
    s.memory_pressure_events = pressure_events_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  /// Calls `f(module&)` for each module, without holding the list's lock
  /// while `f` runs; a module destroyed meanwhile waits for the pass to end.
  template <class F>
  void for_each_module(F&& f) const {
    std::vector<module*> modules;
    {
      std::lock_guard lock{modules_mutex_};
      modules = modules_;
      ++passes_;
    }
    for (module* m : modules) f(*m);
    {
      std::lock_guard lock{modules_mutex_};
      --passes_;
    }
    no_passes_.notify_all();
  }

  static void committed_grew_thunk(void* self) noexcept { static_cast<basic_code_manager*>(self)->committed_grew(); }
  static void module_destroyed_thunk(void* self, const void* m) noexcept {
    static_cast<basic_code_manager*>(self)->module_destroyed(static_cast<const module*>(m));
  }

  void committed_grew() noexcept {
    const std::size_t critical = critical_.load(std::memory_order_relaxed);
    if (critical == 0 || budget_.committed() <= critical) return;
    // One flush at a time; a thread that finds one running goes on: the
    // running flush acts for it.
    std::unique_lock pressure{pressure_mutex_, std::try_to_lock};
    if (!pressure.owns_lock()) return;
    if (budget_.committed() <= critical_.load(std::memory_order_relaxed)) return;
    (void)flush_for_memory_pressure();
    const std::size_t committed = budget_.committed();
    if (on_memory_pressure_.function != nullptr) on_memory_pressure_.function(on_memory_pressure_.context, committed);
    // Halfway from what is committed now to the maximum (V8's rule), so the
    // next flush comes after half the remaining room is used. Without a
    // maximum the threshold moves to committed + the old threshold.
    const std::size_t maximum = budget_.maximum();
    const std::size_t base = std::max(committed, critical);
    const std::size_t next = maximum > base ? base + (maximum - base) / 2 : (maximum == 0 ? base + critical : maximum);
    critical_.store(next, std::memory_order_relaxed);
    pressure_events_.fetch_add(1, std::memory_order_relaxed);
  }

  void module_destroyed(const module* m) noexcept {
    std::unique_lock lock{modules_mutex_};
    modules_.erase(std::remove(modules_.begin(), modules_.end(), m), modules_.end());
    module_count_.store(modules_.size(), std::memory_order_relaxed);
    no_passes_.wait(lock, [this] { return passes_ == 0; });
  }

  Lookup lookup_;
  detail::code_observer_list observers_;
  commit_budget budget_;
  memory_pressure_callback on_memory_pressure_;
  std::atomic<std::size_t> critical_{0};
  std::atomic<std::size_t> pressure_events_{0};
  // Guards no field: held (try_lock) for the length of one memory-pressure
  // flush, so that one thread flushes at a time.
  std::mutex pressure_mutex_;
  std::atomic<std::size_t> module_count_{0};
  // These fields are guarded by modules_mutex_.
  mutable std::mutex modules_mutex_;
  mutable std::condition_variable no_passes_;  // signalled when passes_ drops
  std::vector<module*> modules_;
  mutable std::size_t passes_ = 0;  // for_each_module passes under way
};

// Out of the class, so that an explicit instantiation declaration (see
// README, "Compile time") keeps the environment's observers out of the TUs
// that create managers.
template <class A, class J, class L, class T, class R>
basic_code_manager<A, J, L, T, R>::basic_code_manager(const code_manager_options& options)
    : budget_{options.max_committed}, on_memory_pressure_{options.on_memory_pressure} {
  // Here rather than in the class: every manager a program creates runs this
  // constructor, while an explicit instantiation declaration (the extern
  // code_manager every TU sees under separate compilation) instantiates the
  // class but no member, and so checks nothing in TUs that only include this.
  static_assert(detail::diagnose_policies<A, J, L, T, R>(),
                "jitcm: basic_code_manager's policies do not conform; the sentences above name each missing member");
  std::size_t critical = options.critical_committed;
  if (critical == 0) critical = options.max_committed / 2;
  critical_.store(critical, std::memory_order_relaxed);
  observe::attach_from_environment(observers_);  // tools the environment asks for
}

/// The host's defaults: the O(1) allocator with the host's W^X strategy
/// (dual mapping where the process may use it, else mprotect with pages of
/// their own per block), the host CPU's jump tables, the wait-free segment
/// map for lookups (async-signal-safe), two tiers and V8's scoped ref
/// counting.
using code_manager = basic_code_manager<>;

}  // namespace jitcm

// Under separate compilation jitcm::code_manager itself is compiled once too,
// in the TU that includes <jitcm/separate_compilation.hpp> (the
// explicit-instantiation recipe, applied to the default policies).
#if defined(JITCM_SEPARATE_COMPILATION)
#include "explicit_instantiation.hpp"  // IWYU pragma: export
JITCM_EXTERN_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
#endif
