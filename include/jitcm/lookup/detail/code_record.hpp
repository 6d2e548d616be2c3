// lookup::detail::code_record: a code object's address range and pointer,
// kept where readers can check containment without touching the code.
#pragma once

#include <atomic>
#include <cstdint>

#include "../../base/code.hpp"
#include "shared_cell.hpp"

namespace jitcm::lookup::detail {

/// {begin, end, owner} of one inserted code object, guarded by a sequence
/// number (a seqlock) because the writer reuses a record for other code once
/// its code is erased, while a reader that found the record's number just
/// before may still read it. A reader never waits: a record that changes
/// under it reads as "no code here", which is a correct answer for a find
/// that overlaps the erase or insert that changed it. A free record has
/// begin = end = 0 and contains nothing.
///
/// Thread safety: `owner_if_contains` from any thread, async-signal-safe,
/// concurrently with the other members; everything else by the one writer.
template <bool Concurrent>
class alignas(32) code_record {
 public:
  /// The owner if this record holds a consistent range containing `pc`.
  [[nodiscard]] const code* owner_if_contains(std::uintptr_t pc) const noexcept {
    const std::uint64_t before = sequence_.load(std::memory_order_acquire);
    const std::uintptr_t begin = begin_.load(std::memory_order_relaxed);
    const std::uintptr_t end = end_.load(std::memory_order_relaxed);
    const code* owner = owner_.load(std::memory_order_relaxed);
    if constexpr (Concurrent) {
      // Orders the field loads before the second sequence load (Boehm's
      // seqlock reader); all fields are atomics, so a torn read is no race.
      std::atomic_thread_fence(std::memory_order_acquire);
      if ((before & 1U) != 0 || sequence_.load(std::memory_order_relaxed) != before) return nullptr;
    }
    // Unsigned wrap-around: one comparison for both bounds.
    return pc - begin < end - begin ? owner : nullptr;
  }

  /// Writer only: fills the record (or empties it with {0, 0, nullptr}).
  void assign(std::uintptr_t begin, std::uintptr_t end, const code* owner) noexcept {
    const std::uint64_t sequence = sequence_.load(std::memory_order_relaxed);
    sequence_.store(sequence + 1, std::memory_order_relaxed);
    if constexpr (Concurrent) std::atomic_thread_fence(std::memory_order_release);
    begin_.store(begin, std::memory_order_relaxed);
    end_.store(end, std::memory_order_relaxed);
    owner_.store(owner, std::memory_order_relaxed);
    sequence_.store(sequence + 2, std::memory_order_release);
  }

  // Writer only: what the writer itself stored.
  [[nodiscard]] std::uintptr_t begin() const noexcept { return begin_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uintptr_t end() const noexcept { return end_.load(std::memory_order_relaxed); }
  [[nodiscard]] const code* owner() const noexcept { return owner_.load(std::memory_order_relaxed); }

 private:
  shared_cell<std::uint64_t, Concurrent> sequence_;  // odd while the writer changes the fields
  shared_cell<std::uintptr_t, Concurrent> begin_;
  shared_cell<std::uintptr_t, Concurrent> end_;
  shared_cell<const code*, Concurrent> owner_;
};

}  // namespace jitcm::lookup::detail
