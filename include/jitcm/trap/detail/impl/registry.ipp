// Definitions of <jitcm/trap/detail/registry.hpp> (see
// allocator/impl/tlsf.ipp): attaching, detaching and a fault's search, none
// of them on a path the JIT takes per call.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../registry.hpp"

namespace jitcm::trap::detail {

JITCM_DECL void registration_slot::open(code_finder finder, std::uintptr_t landing_pad) noexcept {
  finder_ = finder;
  landing_pad_.store(landing_pad, std::memory_order_relaxed);
  state_.store(active, std::memory_order_seq_cst);
}

JITCM_DECL void registration_slot::close() noexcept {
  state_.store(closing, std::memory_order_seq_cst);
  wait_for_handlers();
  module_pads_.clear_all();
  finder_ = {};
  state_.store(free, std::memory_order_release);
}

JITCM_DECL void registration_slot::set_landing_pad(std::uintptr_t pad) noexcept {
  landing_pad_.store(pad, std::memory_order_release);
  wait_for_handlers();
}

JITCM_DECL void registration_slot::wait_for_handlers() const noexcept {
  while (in_flight_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

JITCM_DECL std::uintptr_t registration_slot::landing_pad_for(std::uintptr_t pc) const noexcept {
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

JITCM_DECL result<registration_slot*> registry::open(code_finder finder, std::uintptr_t landing_pad) noexcept {
  std::lock_guard lock{writers_};
  for (registration_slot& slot : slots_) {
    if (!slot.is_free()) continue;
    slot.open(finder, landing_pad);
    return &slot;
  }
  return failure{errc::limit_exceeded};
}

JITCM_DECL void registry::close(registration_slot& slot) noexcept {
  std::lock_guard lock{writers_};
  slot.close();
}

JITCM_DECL std::uintptr_t registry::landing_pad_for(std::uintptr_t pc) const noexcept {
  for (const registration_slot& slot : slots_) {
    if (const std::uintptr_t pad = slot.landing_pad_for(pc)) return pad;
  }
  return 0;
}

}  // namespace jitcm::trap::detail
