// word_mutex: a mutex that is one atomic word, for the allocators' short
// critical sections.
#pragma once

#include <atomic>
#include <cstdint>

#include "../../base/config.hpp"
#include "../../platform/detail/windows_api.hpp"

// Sleeping on the word needs a std::atomic::wait that is a real address
// wait. libstdc++ without a platform wait (MinGW-w64 and the BSDs with
// GCC 12) emulates it with a condition variable pool that can lose a
// wake-up (GCC PR 106183), which left two allocating threads asleep for
// good under Wine; there the mutex is the system's own.
#if defined(JITCM_OS_WINDOWS)
#define JITCM_WORD_MUTEX_SRWLOCK 1
#elif defined(__GLIBCXX__) && !defined(_GLIBCXX_HAVE_PLATFORM_WAIT)
#include <mutex>
#define JITCM_WORD_MUTEX_STD 1
#endif

namespace jitcm::allocator::detail {

/// A mutex in one 32-bit atomic (the three-state mutex of Drepper's
/// "Futexes Are Tricky"): 0 free, 1 held, 2 held and maybe waited for.
/// Taking a free one is one compare-exchange and giving it back one
/// exchange, inline, where std::mutex calls into pthread twice; a thread
/// that finds it held spins briefly (an allocator holds it for well under a
/// microsecond), then sleeps in std::atomic::wait (a futex on Linux) until
/// the holder's unlock wakes it. Not fair, not recursive. On Windows it is
/// an SRWLOCK (also one word, taken with one interlocked instruction), and
/// where the standard library has no address wait it is a std::mutex.
///
/// | expression     | result | guarantees |
/// |----------------|--------|------------|
/// | `word_mutex m` |        | free |
/// | `m.lock()`     | `void` | returns holding it; what the last holder did before unlock() happens before |
/// | `m.try_lock()` | `bool` | takes it if free, never waits |
/// | `m.unlock()`   | `void` | precondition: held by this thread; wakes one sleeping locker |
///
/// ```cpp
/// jitcm::allocator::detail::word_mutex m;
/// { std::lock_guard guard{m}; /* ... */ }
/// ```
///
/// Thread safety: every member may be called from any thread; it is what
/// makes the allocators' members thread-safe (ThreadSanitizer sees the
/// acquire and release orders).
#if defined(JITCM_WORD_MUTEX_SRWLOCK)
class word_mutex {
 public:
  word_mutex() = default;
  word_mutex(const word_mutex&) = delete;
  word_mutex& operator=(const word_mutex&) = delete;

  void lock() noexcept { ::AcquireSRWLockExclusive(&lock_); }
  [[nodiscard]] bool try_lock() noexcept { return ::TryAcquireSRWLockExclusive(&lock_) != 0; }
  void unlock() noexcept { ::ReleaseSRWLockExclusive(&lock_); }

 private:
  SRWLOCK lock_ = SRWLOCK_INIT;
};
#elif defined(JITCM_WORD_MUTEX_STD)
using word_mutex = std::mutex;
#else
class word_mutex {
 public:
  word_mutex() = default;
  word_mutex(const word_mutex&) = delete;
  word_mutex& operator=(const word_mutex&) = delete;

  void lock() noexcept {
    if (!try_lock()) lock_contended();
  }

  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t expected = free;
    return state_.compare_exchange_strong(expected, held, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(free, std::memory_order_release) == waited) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t free = 0;
  static constexpr std::uint32_t held = 1;
  static constexpr std::uint32_t waited = 2;
  static constexpr int spins = 64;

  // Out of line (and noinline header-only): lock() stays a compare-exchange
  // and a call, inlined where the allocators lock.
  void lock_contended() noexcept;

  static void relax() noexcept {
#if defined(JITCM_ARCH_X64) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();
#elif defined(JITCM_ARCH_ARM64) && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("yield");
#endif
  }

  std::atomic<std::uint32_t> state_{free};
};
#endif

}  // namespace jitcm::allocator::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/word_mutex.ipp"  // IWYU pragma: export
#endif
