// refcount::code_ref_scope: keeps the code a thread uses alive until the
// scope ends (V8's WasmCodeRefScope).
#pragma once

#include <cstddef>
#include <vector>

#include "../base/code.hpp"
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
///       const jitcm::code* c = manager.lookup(pc, scope);  // held by `scope` (or nullptr)
///       if (c != nullptr) use(*c);
///     }                                                     // may be freed after this
///
/// Only what a module or manager call *returns held* is in the scope
/// (`lookup(pc, scope)`, `publish`, `add_code`, `installed`); the plain
/// `manager.lookup(pc)` holds nothing (it is the signal-safe one).
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
  ~code_ref_scope();

  /// The calling thread's innermost open scope, or nullptr.
  [[nodiscard]] static code_ref_scope* innermost() noexcept { return innermost_; }

  /// Code held by this scope (with repetitions: a code held twice counts twice).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// For counting policies: records that this scope holds one reference on
  /// `c`, which the caller takes right after. True when `owner` starts a new
  /// run of entries: the caller then also takes one handle on `owner`, which
  /// the scope gives back when it ends.
  bool adopt(const code& c, detail::domain* owner) {
    const bool new_run = size_ == 0 || at(size_ - 1).owner != owner;
    if (size_ < inline_capacity)
      inline_[size_] = {&c, owner};
    else
      hold_beyond_inline(c, owner);
    ++size_;
    return new_run;
  }

 private:
  struct entry {
    const code* held;
    detail::domain* owner;
  };
  // Most scopes hold a few code objects (a stack walk, one call): those need
  // no heap allocation.
  static constexpr std::size_t inline_capacity = 8;

  // Out of line (compiled once under separate compilation), as the
  // destructor: the rare paths, which instantiate std::vector's growth and
  // the domain's dropping.
  void hold_beyond_inline(const code& c, detail::domain* owner);
  void drop_all();

  [[nodiscard]] const entry& at(std::size_t i) const noexcept {
    return i < inline_capacity ? inline_[i] : overflow_[i - inline_capacity];
  }

  static inline thread_local code_ref_scope* innermost_ = nullptr;
  code_ref_scope* outer_;
  std::size_t size_ = 0;
  entry inline_[inline_capacity];
  std::vector<entry> overflow_;
};

namespace detail {

/// The shared body of the counting policies: a domain and the
/// hold/retire/collect calls on it.
class counting_policy {
 public:
  using scope = code_ref_scope;

  counting_policy(free_callback free_code, free_rule rule) noexcept;
  counting_policy(const counting_policy&) = delete;
  counting_policy& operator=(const counting_policy&) = delete;
  ~counting_policy();

  /// False without an open scope, and for code already dead (its count
  /// reached zero: it is being freed), which a lookup may still meet.
  [[nodiscard]] bool hold(const code& c) {
    code_ref_scope* innermost = code_ref_scope::innermost();
    if (innermost == nullptr || domain_ == nullptr) return false;
    if (!c.try_add_ref()) return false;
    if (innermost->adopt(c, domain_)) domain_->acquire_handle();
    return true;
  }

  // Without a domain (its allocation failed) retired code simply stays with
  // the module until the module goes.
  void retire(const code& c) {
    if (domain_ != nullptr) domain_->retire(c);
  }

  std::size_t collect(std::span<const code* const> live) { return domain_ != nullptr ? domain_->collect(live) : 0; }

  [[nodiscard]] std::size_t retired_count() const noexcept { return domain_ != nullptr ? domain_->retired_count() : 0; }

 private:
  domain* domain_;
};

}  // namespace detail
}  // namespace jitcm::refcount

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/code_ref_scope.ipp"  // IWYU pragma: export
#endif
