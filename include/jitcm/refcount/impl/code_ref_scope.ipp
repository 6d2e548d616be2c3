// Definitions of <jitcm/refcount/code_ref_scope.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../code_ref_scope.hpp"

namespace jitcm::refcount {

// Out of line, though a JIT may close a scope per call into code: inline,
// it had every TU instantiate the overflow vector's destructor. Under
// separate compilation that costs one call per scope.
JITCM_DECL code_ref_scope::~code_ref_scope() {
  innermost_ = outer_;
  if (size_ != 0) drop_all();
}

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

namespace detail {

JITCM_DECL counting_policy::counting_policy(free_callback free_code, free_rule rule) noexcept
    : domain_{domain::create(free_code, rule)} {}

JITCM_DECL counting_policy::~counting_policy() {
  if (domain_ == nullptr) return;
  domain_->orphan();
  domain_->drop_handle();
}

}  // namespace detail
}  // namespace jitcm::refcount
