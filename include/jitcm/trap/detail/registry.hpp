// The trap handler's registrations: which lookups it searches and where it
// resumes a thread, in fixed slots a signal handler reads without locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "../../base/code.hpp"
#include "../../base/config.hpp"
#include "../../base/error.hpp"
#include "../../base/result.hpp"
#include "module_landing_pads.hpp"

namespace jitcm::trap::detail {

/// A lookup seen through a function pointer: `find(lookup, pc)` must be
/// async-signal-safe.
struct code_finder {
  const code* (*find)(const void* lookup, std::uintptr_t pc) noexcept = nullptr;
  const void* lookup = nullptr;
};

/// One registration. Handlers count themselves in `in_flight_` before they
/// look at the slot and check it is still active after counting; closing
/// marks the slot closing first and then waits for the count to drain. Both
/// sides use sequentially consistent operations, so either the handler sees
/// the slot closing, or closing sees the handler counted and waits: no
/// handler is ever inside a lookup that was detached.
class registration_slot {
 public:
  /// Called with the registry's lock held, on a free slot.
  void open(code_finder finder, std::uintptr_t landing_pad) noexcept;

  /// Called with the registry's lock held; returns once no handler uses the slot.
  void close() noexcept;

  [[nodiscard]] bool is_free() const noexcept { return state_.load(std::memory_order_acquire) == free; }

  /// Called with the registry's lock held.
  void set_landing_pad(std::uintptr_t pad) noexcept;
  [[nodiscard]] std::uintptr_t landing_pad() const noexcept { return landing_pad_.load(std::memory_order_acquire); }
  [[nodiscard]] module_landing_pads& module_pads() noexcept { return module_pads_; }

  /// Returns once every handler that was using the slot has left it.
  void wait_for_handlers() const noexcept;

  /// Where to resume a thread that faulted at `pc`: the landing pad of the
  /// module owning the code that contains `pc`, else the registration's, if
  /// that code lists `pc` as a protected instruction; 0 otherwise.
  /// Async-signal-safe.
  [[nodiscard]] std::uintptr_t landing_pad_for(std::uintptr_t pc) const noexcept;

 private:
  enum slot_state : unsigned { free, active, closing };

  std::atomic<unsigned> state_{free};
  mutable std::atomic<std::size_t> in_flight_{0};
  code_finder finder_{};  // written only while no handler can read it
  std::atomic<std::uintptr_t> landing_pad_{0};
  module_landing_pads module_pads_;
};

/// Every registration of the process.
class registry {
 public:
  static constexpr std::size_t capacity = 16;

  /// Errors: limit_exceeded (every slot taken).
  [[nodiscard]] result<registration_slot*> open(code_finder finder, std::uintptr_t landing_pad) noexcept;

  void close(registration_slot& slot) noexcept;

  /// Serialises changes to a slot's landing pads.
  [[nodiscard]] std::mutex& writers() noexcept { return writers_; }

  /// The first registration's landing pad for a fault at `pc`, or 0.
  /// Async-signal-safe.
  [[nodiscard]] std::uintptr_t landing_pad_for(std::uintptr_t pc) const noexcept;

 private:
  std::mutex writers_;
  registration_slot slots_[capacity];
};

static_assert(std::atomic<unsigned>::is_always_lock_free && std::atomic<std::size_t>::is_always_lock_free,
              "the trap handler counts itself in registrations from a signal handler");

/// The process's registry; constant-initialised, so a handler never meets it
/// half built. MinGW's std::mutex has no constant initialiser; Windows has
/// no trap handler yet (trap::install is unsupported there) to meet it.
#if defined(JITCM_OS_WINDOWS)
inline registry registrations{};
#else
inline constinit registry registrations{};
#endif

}  // namespace jitcm::trap::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/registry.ipp"  // IWYU pragma: export
#endif
