// lookup::detail::shared_cell: a value one writer stores while readers load
// it, or a plain value when one thread owns the whole structure.
#pragma once

#include <atomic>
#include <mutex>
#include <type_traits>

namespace jitcm::lookup::detail {

/// With `Concurrent` an atomic whose loads acquire and stores release unless
/// the caller names another order; without it a plain member, so the same
/// structure can be measured with no synchronisation at all. Either way
/// zero-initialised by default.
template <class T, bool Concurrent>
class shared_cell;

template <class T>
class shared_cell<T, true> {
  static_assert(std::atomic<T>::is_always_lock_free, "readers must stay async-signal-safe");

 public:
  [[nodiscard]] T load(std::memory_order order = std::memory_order_acquire) const noexcept {
    return value_.load(order);
  }
  void store(T value, std::memory_order order = std::memory_order_release) noexcept { value_.store(value, order); }

 private:
  std::atomic<T> value_{};
};

template <class T>
class shared_cell<T, false> {
 public:
  [[nodiscard]] T load(std::memory_order = std::memory_order_acquire) const noexcept { return value_; }
  void store(T value, std::memory_order = std::memory_order_release) noexcept { value_ = value; }

 private:
  T value_{};
};

/// The lock writers take: a mutex, or nothing for single-threaded use.
struct no_lock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

template <bool Concurrent>
using writer_mutex = std::conditional_t<Concurrent, std::mutex, no_lock>;

}  // namespace jitcm::lookup::detail
