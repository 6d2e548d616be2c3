// The trap handler's registrations: which lookups it searches and where it
// resumes a thread, in fixed slots a signal handler reads without locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../../base/code.hpp"
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
  void open(code_finder finder, std::uintptr_t landing_pad) noexcept {
    finder_ = finder;
    landing_pad_.store(landing_pad, std::memory_order_relaxed);
    state_.store(active, std::memory_order_seq_cst);
  }

  /// Called with the registry's lock held; returns once no handler uses the slot.
  void close() noexcept {
    state_.store(closing, std::memory_order_seq_cst);
    wait_for_handlers();
    module_pads_.clear_all();
    finder_ = {};
    state_.store(free, std::memory_order_release);
  }

  [[nodiscard]] bool is_free() const noexcept { return state_.load(std::memory_order_acquire) == free; }

  /// Called with the registry's lock held.
  void set_landing_pad(std::uintptr_t pad) noexcept {
    landing_pad_.store(pad, std::memory_order_release);
    wait_for_handlers();
  }
  [[nodiscard]] std::uintptr_t landing_pad() const noexcept { return landing_pad_.load(std::memory_order_acquire); }
  [[nodiscard]] module_landing_pads& module_pads() noexcept { return module_pads_; }

  /// Returns once every handler that was using the slot has left it.
  void wait_for_handlers() const noexcept {
    while (in_flight_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

  /// Where to resume a thread that faulted at `pc`: the landing pad of the
  /// module owning the code that contains `pc`, else the registration's, if
  /// that code lists `pc` as a protected instruction; 0 otherwise.
  /// Async-signal-safe.
  [[nodiscard]] std::uintptr_t landing_pad_for(std::uintptr_t pc) const noexcept {
    if (state_.load(std::memory_order_relaxed) != active) return 0;
    in_flight_.fetch_add(1, std::memory_order_seq_cst);
    std::uintptr_t pad = 0;
    if (state_.load(std::memory_order_seq_cst) == active) {
      // The code is alive: the faulting thread is running it, and code is
      // freed only once no thread can be.
      const code* c = finder_.find(finder_.lookup, pc);
      if (c != nullptr && c->is_protected_instruction(pc)) {
        pad = module_pads_.find(c->owner());
        if (pad == 0) pad = landing_pad();
      }
    }
    in_flight_.fetch_sub(1, std::memory_order_release);
    return pad;
  }

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
  [[nodiscard]] result<registration_slot*> open(code_finder finder, std::uintptr_t landing_pad) noexcept {
    std::lock_guard lock{writers_};
    for (registration_slot& slot : slots_) {
      if (!slot.is_free()) continue;
      slot.open(finder, landing_pad);
      return &slot;
    }
    return failure{errc::limit_exceeded};
  }

  void close(registration_slot& slot) noexcept {
    std::lock_guard lock{writers_};
    slot.close();
  }

  /// Serialises changes to a slot's landing pads.
  [[nodiscard]] std::mutex& writers() noexcept { return writers_; }

  /// The first registration's landing pad for a fault at `pc`, or 0.
  /// Async-signal-safe.
  [[nodiscard]] std::uintptr_t landing_pad_for(std::uintptr_t pc) const noexcept {
    for (const registration_slot& slot : slots_) {
      if (const std::uintptr_t pad = slot.landing_pad_for(pc)) return pad;
    }
    return 0;
  }

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
