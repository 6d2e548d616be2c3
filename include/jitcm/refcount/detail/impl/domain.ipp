// Definitions of <jitcm/refcount/detail/domain.hpp> (see
// allocator/impl/tlsf.ipp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <new>
#include <span>
#include <vector>

#include "../domain.hpp"

namespace jitcm::refcount::detail {

// Creating and destroying a domain (its vectors, its mutex) happens once per
// policy, a handle's last drop once per scope: none needs to be inline.
JITCM_DECL domain* domain::create(free_callback free_code, free_rule rule) noexcept {
  return new (std::nothrow) domain{free_code, rule};
}

JITCM_DECL domain::domain(free_callback free_code, free_rule rule) noexcept : free_code_{free_code}, rule_{rule} {}

JITCM_DECL void domain::drop_handle() noexcept {
  if (handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

JITCM_DECL void domain::orphan() noexcept {
  std::lock_guard lock{mutex_};
  orphaned_ = true;
}

JITCM_DECL void domain::retire(const code& c) {
  std::lock_guard lock{mutex_};
  if (rule_ == free_rule::after_collect) {
    potentially_dead_.push_back(&c);
    return;
  }
  // at_zero: the creator's reference goes now.
  if (c.drop_ref())
    free_code_(c);
  else
    ++dead_but_held_;
}

JITCM_DECL std::size_t domain::collect(std::span<const code* const> live) {
  std::vector<const code*> sorted_live(live.begin(), live.end());
  std::sort(sorted_live.begin(), sorted_live.end());
  std::lock_guard lock{mutex_};
  std::size_t released = 0;
  std::erase_if(potentially_dead_, [&](const code* c) {
    if (std::binary_search(sorted_live.begin(), sorted_live.end(), c)) return false;  // still on a stack
    // Dead: the set's reference goes; a scope may still hold it.
    if (c->drop_ref()) {
      free_code_(*c);
      ++released;
    } else {
      ++dead_but_held_;
    }
    return true;
  });
  for (const code* c : dead_unreferenced_) free_code_(*c);
  released += dead_unreferenced_.size();
  dead_unreferenced_.clear();
  return released;
}

JITCM_DECL std::size_t domain::retired_count() noexcept {
  std::lock_guard lock{mutex_};
  return potentially_dead_.size() + dead_but_held_ + dead_unreferenced_.size();
}

}  // namespace jitcm::refcount::detail
