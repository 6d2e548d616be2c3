// late<T>: an object its owner constructs in place and may destroy before
// its own other members.
#pragma once

#include <memory>
#include <utility>

namespace jitcm::detail {

/// What a member `std::optional<T>` would do for an owner that constructs
/// the object at once and may end it early (native_module ends its
/// ref-counting policy first in its destructor), without instantiating
/// std::optional's class: that costs every TU that instantiates the owner's
/// class, including through an extern declaration, and the owner needs
/// none of its interface.
///
/// | expression          | result | guarantees |
/// |---------------------|--------|------------|
/// | `late<T> x{std::in_place, args...}` | | constructs the T from args (the tag keeps a `late` argument from reading as a copy) |
/// | `x.reset()`         | `void` | ends the T (once; later calls do nothing) |
/// | `*x`, `x->m`        | `T&`   | the T; precondition: not reset |
///
/// Thread safety: none; the owner serialises reset with every other use.
template <class T>
class late {
 public:
  template <class... Args>
  explicit late(std::in_place_t, Args&&... args) noexcept(noexcept(T(std::forward<Args>(args)...))) {
    std::construct_at(&value_, std::forward<Args>(args)...);
  }
  late(const late&) = delete;
  late& operator=(const late&) = delete;
  ~late() { reset(); }

  void reset() noexcept {
    if (!alive_) return;
    alive_ = false;
    std::destroy_at(&value_);
  }

  [[nodiscard]] T& operator*() noexcept { return value_; }
  [[nodiscard]] T* operator->() noexcept { return &value_; }

 private:
  // A union member is not constructed or destroyed on its own.
  union {
    T value_;
  };
  bool alive_ = true;
};

}  // namespace jitcm::detail
