// jitcm::detail::owned_array<T>: the owner of one `new T[n]` array. In the
// base layer, with no includes of jitcm, so that base/code.hpp and the
// protection and lookup layers use it without reaching up into the core.
//
// What std::unique_ptr<T[]> does for jitcm's arrays (code metadata, code
// tables, lookup arrays, page bitmaps), without its machinery: every
// unique_ptr<T[]> instantiates its tuple-based storage, deleter traits and
// converting constructors, several milliseconds per element type in every
// TU that includes the class holding it (issue #12).
//
// | expression          | result | guarantees |
// |---|---|---|
// | `owned_array<T>{}`  |        | owns nothing |
// | `owned_array<T>{p}` |        | owns `p` (from `new T[n]` or `new (std::nothrow) T[n]`; may be null) |
// | `a.reset(p)`        | void   | deletes the old array, owns `p` |
// | `a.get()`           | `T*`   | the array, or nullptr |
// | `a[i]`              | `T&`   | element i (precondition: owns at least i + 1) |
// | `bool(a)`           | bool   | owns an array |
// Move-only; the destructor deletes the array. Thread safety: as a pointer.
//
//     jitcm::detail::owned_array<int> a{new (std::nothrow) int[4]{}};
//     if (!a) return failure{errc::out_of_memory};
//     a[3] = 7;
#pragma once

#include <cstddef>
#include <utility>

namespace jitcm::detail {

template <class T>
class owned_array {
 public:
  owned_array() noexcept = default;
  explicit owned_array(T* elements) noexcept : elements_{elements} {}
  owned_array(owned_array&& other) noexcept : elements_{std::exchange(other.elements_, nullptr)} {}
  owned_array& operator=(owned_array&& other) noexcept {
    reset(std::exchange(other.elements_, nullptr));
    return *this;
  }
  owned_array(const owned_array&) = delete;
  owned_array& operator=(const owned_array&) = delete;
  ~owned_array() { delete[] elements_; }

  void reset(T* elements = nullptr) noexcept { delete[] std::exchange(elements_, elements); }
  [[nodiscard]] T* get() const noexcept { return elements_; }
  [[nodiscard]] T& operator[](std::size_t i) const noexcept { return elements_[i]; }
  explicit operator bool() const noexcept { return elements_ != nullptr; }

 private:
  T* elements_ = nullptr;
};

}  // namespace jitcm::detail
