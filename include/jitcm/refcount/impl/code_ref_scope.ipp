// Definitions of <jitcm/refcount/code_ref_scope.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../code_ref_scope.hpp"

namespace jitcm::refcount {

JITCM_DECL void code_ref_scope::hold_beyond_inline(const code& c, detail::domain* owner) {
  overflow_.push_back({&c, owner});
}

// Each run of entries of one policy (the usual case: one module) is dropped
// under one lock and holds one handle.
JITCM_DECL void code_ref_scope::drop_all() {
  for (std::size_t first = 0; first < size_;) {
    detail::domain* owner = at(first).owner;
    std::size_t last = first + 1;
    while (last < size_ && at(last).owner == owner) ++last;
    owner->drop_scope_references([&](auto&& drop) {
      for (std::size_t i = first; i < last; ++i) drop(*at(i).held);
    });
    owner->drop_handle();
    first = last;
  }
}

}  // namespace jitcm::refcount
