// Landing pads per module for the trap handler: a fixed table the signal
// handler reads without locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

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
  [[nodiscard]] result<void> set(const void* module, std::uintptr_t pad) noexcept {
    if (module == nullptr || pad == 0) return failure{errc::invalid_argument};
    entry* free_entry = nullptr;
    for (entry& e : entries_) {
      const void* owner = e.module.load(std::memory_order_relaxed);
      if (owner == module) {
        e.pad.store(pad, std::memory_order_release);
        return {};
      }
      if (owner == nullptr && free_entry == nullptr) free_entry = &e;
    }
    if (free_entry == nullptr) return failure{errc::limit_exceeded};
    free_entry->pad.store(pad, std::memory_order_release);
    free_entry->module.store(module, std::memory_order_release);
    return {};
  }

  /// Returns whether `module` had a pad.
  bool clear(const void* module) noexcept {
    for (entry& e : entries_) {
      if (module != nullptr && e.module.load(std::memory_order_relaxed) == module) {
        e.module.store(nullptr, std::memory_order_release);
        e.pad.store(0, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

  void clear_all() noexcept {
    for (entry& e : entries_) {
      e.module.store(nullptr, std::memory_order_release);
      e.pad.store(0, std::memory_order_release);
    }
  }

  /// The pad of `module`, or 0. Async-signal-safe: atomic loads only.
  [[nodiscard]] std::uintptr_t find(const void* module) const noexcept {
    if (module == nullptr) return 0;
    for (const entry& e : entries_) {
      if (e.module.load(std::memory_order_acquire) != module) continue;
      const std::uintptr_t pad = e.pad.load(std::memory_order_acquire);
      if (e.module.load(std::memory_order_acquire) == module) return pad;
    }
    return 0;
  }

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
