// Definitions of <jitcm/allocator/detail/word_mutex.hpp> (see
// allocator/impl/tlsf.ipp): the wait of a contended lock, whose atomic wait
// code every TU instantiated; lock, try_lock and unlock stay inline.
#pragma once

#include <atomic>
#include <cstdint>

#include "../word_mutex.hpp"

#if !defined(JITCM_WORD_MUTEX_SRWLOCK) && !defined(JITCM_WORD_MUTEX_STD)
namespace jitcm::allocator::detail {

[[gnu::noinline]] JITCM_DECL void word_mutex::lock_contended() noexcept {
  for (int i = 0; i < spins; ++i) {
    relax();
    if (state_.load(std::memory_order_relaxed) == free && try_lock()) return;
  }
  // Marked waited, the state makes the holder's unlock wake a sleeper; a
  // thread that gets it this way keeps the mark (at worst one needless
  // wake-up).
  while (state_.exchange(waited, std::memory_order_acquire) != free) {
    state_.wait(waited, std::memory_order_relaxed);
  }
}

}  // namespace jitcm::allocator::detail
#endif
