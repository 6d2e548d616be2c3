// Landing pads per module for the trap handler: a fixed table the signal
// handler reads without locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "../../base/config.hpp"
#include "../../base/error.hpp"
#include "../../base/result.hpp"

namespace jitcm::trap::detail {

/// Up to `capacity` (module, landing pad) pairs. Writers are serialised by
/// the caller; `find` may run in a signal handler at any time.
///
/// An entry's pad is stored (free_code) before its module, and cleared after
/// it, so a reader that sees a module reads a pad stored for it; it
/// re-reads the module after the pad to catch an entry that was cleared and
/// handed to another module meanwhile.
class module_landing_pads {
 public:
  static constexpr std::size_t capacity = 32;

  /// Errors: invalid_argument (null module or pad), limit_exceeded (table full).
  [[nodiscard]] result<void> set(const void* module, std::uintptr_t pad) noexcept;

  /// Returns whether `module` had a pad.
  bool clear(const void* module) noexcept;

  void clear_all() noexcept;

  /// The pad of `module`, or 0. Async-signal-safe: atomic loads only.
  [[nodiscard]] std::uintptr_t find(const void* module) const noexcept;

 private:
  struct entry {
    std::atomic<const void*> module{nullptr};
    std::atomic<std::uintptr_t> pad{0};
  };
  static_assert(std::atomic<const void*>::is_always_lock_free && std::atomic<std::uintptr_t>::is_always_lock_free,
                "the trap handler reads landing pads in a signal handler");

  entry entries_[capacity];
};

}  // namespace jitcm::trap::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/module_landing_pads.ipp"  // IWYU pragma: export
#endif
