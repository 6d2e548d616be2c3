// The state a counting ref-counting policy shares with the scopes holding its
// code, so that a scope may outlive the policy (and its module).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <span>
#include <vector>

#include "../../base/code.hpp"
#include "../../base/config.hpp"
#include "../free_callback.hpp"

namespace jitcm::refcount::detail {

/// When retired code whose count reached zero is released.
enum class free_rule {
  after_collect,  ///< refcount::scoped: only code `collect` found off every stack (V8)
  at_zero,        ///< refcount::atomic_counts: as soon as nothing holds it
};

/// Reference-counted itself: one handle for the policy and one for every
/// run of scope entries holding code objects of this domain. The policy orphans it
/// when it is destroyed; scope runs that end later release their handle
/// without touching their (by then freed) code.
///
/// Every member locks `mutex_`, and the release callback runs with it held,
/// so after `orphan` returns no callback is running or will run.
class domain {
 public:
  [[nodiscard]] static domain* create(free_callback free_code, free_rule rule) noexcept;

  void acquire_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  void drop_handle() noexcept;

  void orphan() noexcept;

  void retire(const code& c);

  /// Scope entries ended, one reference each: `for_each_held(drop)` calls
  /// `drop(code)` for each, all under one lock.
  template <class ForEachHeld>
  void drop_scope_references(ForEachHeld for_each_held) {
    std::lock_guard lock{mutex_};
    if (orphaned_) return;  // the module freed the code with itself
    for_each_held([this](const code& c) {
      // The table or the potentially-dead set holds a reference until the
      // code is dead, so reaching zero here means dead and unreferenced.
      if (!c.drop_ref()) return;
      --dead_but_held_;
      if (rule_ == free_rule::at_zero)
        free_code_(c);
      else
        dead_unreferenced_.push_back(&c);
    });
  }

  std::size_t collect(std::span<const code* const> live);

  [[nodiscard]] std::size_t retired_count() noexcept;

 private:
  domain(free_callback free_code, free_rule rule) noexcept;
  ~domain() = default;

  std::atomic<std::size_t> handles_{1};
  std::mutex mutex_;
  free_callback free_code_;
  free_rule rule_;
  bool orphaned_ = false;
  std::vector<const code*> potentially_dead_;   // retired, not yet seen off the stacks
  std::vector<const code*> dead_unreferenced_;  // dead; the last scope let go; release at collect
  std::size_t dead_but_held_ = 0;               // dead (or retired, at_zero) but held by a scope
};

}  // namespace jitcm::refcount::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/domain.ipp"  // IWYU pragma: export
#endif
