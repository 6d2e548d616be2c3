// result<T>: a value or the std::error_code that says why there is none.
//
// std::expected<T, std::error_code> where the standard library has it; a small
// stand-in with the same spelling otherwise (C++20 libraries). Either way it
// works with -fno-exceptions: nothing here throws, and code that needs the
// value checks the result first.
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>

#if __has_include(<version>)
#include <version>
#endif

#if defined(__cpp_lib_expected) && __cpp_lib_expected >= 202202L
#include <expected>
#define JITCM_STD_EXPECTED 1
#endif

#include "error.hpp"

namespace jitcm {

#if defined(JITCM_STD_EXPECTED)

template <class T>
using result = std::expected<T, std::error_code>;
using failure = std::unexpected<std::error_code>;

#else

/// Carries an error into a result<T>: `return failure{errc::out_of_memory};`.
class failure {
 public:
  explicit failure(std::error_code error) noexcept : error_{error} {}
  template <class E>
  requires std::is_error_code_enum_v<E>
  explicit failure(E error) noexcept : error_{make_error_code(error)} {}
  [[nodiscard]] const std::error_code& error() const noexcept { return error_; }

 private:
  std::error_code error_;
};

namespace detail {

template <class T>
class result_storage {
 public:
  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::remove_cvref_t<U>, failure>)constexpr result_storage(
      U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : has_value_{true} {
    ::new (static_cast<void*>(&value_)) T(std::forward<U>(value));
  }
  result_storage(failure f) noexcept : error_{f.error()}, has_value_{false} {}

  result_storage(const result_storage& other) : has_value_{other.has_value_} {
    if (has_value_)
      ::new (static_cast<void*>(&value_)) T(other.value_);
    else
      ::new (static_cast<void*>(&error_)) std::error_code(other.error_);
  }
  result_storage(result_storage&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : has_value_{other.has_value_} {
    if (has_value_)
      ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
    else
      ::new (static_cast<void*>(&error_)) std::error_code(other.error_);
  }
  result_storage& operator=(result_storage other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    destroy();
    has_value_ = other.has_value_;
    if (has_value_)
      ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
    else
      ::new (static_cast<void*>(&error_)) std::error_code(other.error_);
    return *this;
  }
  ~result_storage() { destroy(); }

 protected:
  void destroy() noexcept {
    if (has_value_) value_.~T();
  }
  union {
    T value_;
    std::error_code error_;
  };
  bool has_value_;
};

}  // namespace detail

/// A value of type T or the error that prevented it; the subset of
/// std::expected<T, std::error_code> that jitcm uses, spelled the same way.
template <class T>
class result : public detail::result_storage<T> {
  using base = detail::result_storage<T>;

 public:
  using value_type = T;
  using error_type = std::error_code;
  using base::base;

  [[nodiscard]] constexpr bool has_value() const noexcept { return this->has_value_; }
  constexpr explicit operator bool() const noexcept { return this->has_value_; }

  // Preconditions: has_value() (as with std::expected, checked only by assert).
  constexpr T& operator*() & noexcept { return this->value_; }
  constexpr const T& operator*() const& noexcept { return this->value_; }
  constexpr T&& operator*() && noexcept { return std::move(this->value_); }
  constexpr T* operator->() noexcept { return &this->value_; }
  constexpr const T* operator->() const noexcept { return &this->value_; }
  constexpr T& value() & noexcept { return this->value_; }
  constexpr const T& value() const& noexcept { return this->value_; }
  constexpr T&& value() && noexcept { return std::move(this->value_); }

  /// Precondition: !has_value().
  [[nodiscard]] constexpr const std::error_code& error() const noexcept { return this->error_; }

  template <class U>
  [[nodiscard]] constexpr T value_or(U&& fallback) const& {
    return this->has_value_ ? this->value_ : static_cast<T>(std::forward<U>(fallback));
  }
};

template <>
class result<void> {
 public:
  using value_type = void;
  using error_type = std::error_code;

  constexpr result() noexcept = default;
  result(failure f) noexcept : error_{f.error()}, has_value_{false} {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return has_value_; }
  constexpr explicit operator bool() const noexcept { return has_value_; }
  constexpr void operator*() const noexcept {}
  constexpr void value() const noexcept {}
  [[nodiscard]] const std::error_code& error() const noexcept { return error_; }

 private:
  std::error_code error_{};
  bool has_value_ = true;
};

#endif

/// The error of a failed result as a failure, for passing it up unchanged:
/// `if (!r) return forward_error(r);`.
template <class T>
[[nodiscard]] failure forward_error(const result<T>& r) noexcept {
  return failure{r.error()};
}

/// A failure from an errno value the OS reported.
[[nodiscard]] inline failure system_failure(int errno_value) noexcept {
  return failure{std::error_code{errno_value, std::system_category()}};
}

}  // namespace jitcm
