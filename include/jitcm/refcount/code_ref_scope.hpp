// refcount::code_ref_scope: keeps the code a thread uses alive until the
// scope ends (V8's WasmCodeRefScope).
#pragma once

#include <cstddef>
#include <vector>

#include "../code.hpp"
#include "detail/domain.hpp"

namespace jitcm::refcount {

/// A thread-local stack of scopes. Code a counting policy `hold`s is added to
/// the calling thread's innermost open scope: its count goes up, and comes
/// down when that scope ends. Open one around any code that looks code up
/// and uses it (calls it, reads its metadata): stack walks, tier-up,
/// debugger queries.
///
///     {
///       jitcm::refcount::code_ref_scope scope;
///       const jitcm::code* c = manager.lookup(pc);   // held by `scope`
///       use(*c);
///     }                                               // may be freed after this
///
/// A scope may outlive the module whose code it holds; it then ends without
/// touching that code.
///
/// Thread safety: a scope belongs to the thread that opened it and must end
/// on that thread, innermost first (which RAII gives on the stack). Scopes on
/// different threads are independent.
class code_ref_scope {
 public:
  code_ref_scope() noexcept : outer_{innermost_} { innermost_ = this; }
  code_ref_scope(const code_ref_scope&) = delete;
  code_ref_scope& operator=(const code_ref_scope&) = delete;
  ~code_ref_scope() {
    innermost_ = outer_;
    for (const entry& held : held_) {
      held.owner->drop_scope_reference(*held.held);
      held.owner->release_handle();
    }
  }

  /// The calling thread's innermost open scope, or nullptr.
  [[nodiscard]] static code_ref_scope* innermost() noexcept { return innermost_; }

  /// Code held by this scope (with repetitions: a code held twice counts twice).
  [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }

  /// For counting policies: holds `c`, whose count the caller raised, on
  /// behalf of `owner`, whose handle the caller acquired.
  void adopt(const code& c, detail::domain* owner) { held_.push_back({&c, owner}); }

 private:
  struct entry {
    const code* held;
    detail::domain* owner;
  };

  static inline thread_local code_ref_scope* innermost_ = nullptr;
  code_ref_scope* outer_;
  std::vector<entry> held_;
};

namespace detail {

/// The shared body of the counting policies: a domain and the
/// hold/retire/collect calls on it.
class counting_policy {
 public:
  using scope = code_ref_scope;

  counting_policy(release_callback release, release_rule rule) noexcept
      : domain_{domain::create(release, rule)} {}
  counting_policy(const counting_policy&) = delete;
  counting_policy& operator=(const counting_policy&) = delete;
  ~counting_policy() {
    if (domain_ == nullptr) return;
    domain_->orphan();
    domain_->release_handle();
  }

  [[nodiscard]] bool hold(const code& c) {
    code_ref_scope* innermost = code_ref_scope::innermost();
    if (innermost == nullptr || domain_ == nullptr) return false;
    c.add_ref();
    domain_->acquire_handle();
    innermost->adopt(c, domain_);
    return true;
  }

  // Without a domain (its allocation failed) retired code simply stays with
  // the module until the module goes.
  void retire(const code& c) {
    if (domain_ != nullptr) domain_->retire(c);
  }

  std::size_t collect(std::span<const code* const> live) {
    return domain_ != nullptr ? domain_->collect(live) : 0;
  }

  [[nodiscard]] std::size_t retired_count() const noexcept {
    return domain_ != nullptr ? domain_->retired_count() : 0;
  }

 private:
  domain* domain_;
};

}  // namespace detail
}  // namespace jitcm::refcount
