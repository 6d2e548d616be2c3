// lookup::cached<Inner>: a direct-mapped cache of exact program counters in
// front of any lookup policy.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "../base/code.hpp"
#include "../base/result.hpp"
#include "concept.hpp"

namespace jitcm::lookup {

/// V8's `WasmCodeLookupCache`: stack walkers ask for the same return
/// addresses again and again, so the last answer for each exact pc is kept
/// in a table of `Entries` slots indexed by a hash of the pc. A hit costs a
/// few loads and no lock; a miss asks `Inner` and fills the slot. Misses
/// (no code) are not cached, so inserting code needs no invalidation;
/// erasing code bumps a generation that invalidates every slot at once.
///
/// Each slot is a small seqlock: a filler claims it with one
/// compare-exchange and skips filling if another thread holds it, so `find`
/// never waits. No slot holds a code pointer that was erased before the
/// `find` began, and `find` never dereferences a code object.
///
/// Thread safety: as `Inner` for `insert` and `erase`; `find` is safe
/// concurrently with everything, and async-signal-safe when `Inner::find`
/// is (`cached<lock_free_array>`).
template <class Inner, std::size_t Entries = 1024>
requires code_lookup<Inner>
class cached {
  static_assert(Entries > 0 && std::has_single_bit(Entries), "cached<Inner, Entries>: Entries must be a power of two");

 public:
  cached() = default;
  cached(const cached&) = delete;
  cached& operator=(const cached&) = delete;

  [[nodiscard]] result<void> insert(const code* c) { return inner_.insert(c); }

  [[nodiscard]] result<void> erase(const code* c) {
    auto erased = inner_.erase(c);
    if (erased) generation_.fetch_add(1, std::memory_order_seq_cst);
    return erased;
  }

  [[nodiscard]] const code* find(std::uintptr_t pc) const {
    // Read before asking Inner: an answer filled in under this generation
    // is discarded by any erase that completes after this point.
    const std::uint64_t generation = generation_.load(std::memory_order_seq_cst);
    slot& s = slots_[slot_index(pc)];
    if (const code* hit = s.read(pc, generation)) return hit;
    const code* found = inner_.find(pc);
    if (found != nullptr) s.try_fill(pc, found, generation);
    return found;
  }

  [[nodiscard]] const Inner& inner() const noexcept { return inner_; }

 private:
  struct slot {
    std::atomic<std::uint64_t> sequence{0};  // odd while a filler writes
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::uintptr_t> pc{0};
    std::atomic<const code*> owner{nullptr};

    const code* read(std::uintptr_t at, std::uint64_t current) const noexcept {
      const std::uint64_t before = sequence.load(std::memory_order_acquire);
      if (before & 1U) return nullptr;
      // Acquire loads: seeing a filler's field store orders the sequence
      // load below after its claim, so a torn read shows as a changed sequence.
      const std::uint64_t g = generation.load(std::memory_order_acquire);
      const std::uintptr_t p = pc.load(std::memory_order_acquire);
      const code* o = owner.load(std::memory_order_acquire);
      if (sequence.load(std::memory_order_relaxed) != before) return nullptr;
      return (g == current && p == at) ? o : nullptr;
    }

    void try_fill(std::uintptr_t at, const code* found, std::uint64_t current) noexcept {
      std::uint64_t before = sequence.load(std::memory_order_relaxed);
      if ((before & 1U) ||
          !sequence.compare_exchange_strong(before, before + 1, std::memory_order_acquire, std::memory_order_relaxed)) {
        return;  // another thread is filling this slot; the cache is only a hint
      }
      generation.store(current, std::memory_order_release);
      pc.store(at, std::memory_order_release);
      owner.store(found, std::memory_order_release);
      sequence.store(before + 2, std::memory_order_release);
    }
  };

  static std::size_t slot_index(std::uintptr_t pc) noexcept {
    // Fibonacci hashing: nearby return addresses land in different slots.
    constexpr unsigned shift = 64U - static_cast<unsigned>(std::countr_zero(Entries));
    const std::uint64_t mixed = static_cast<std::uint64_t>(pc) * 0x9E3779B97F4A7C15ULL;
    if constexpr (Entries == 1)
      return 0;
    else
      return static_cast<std::size_t>(mixed >> shift);
  }

  Inner inner_;
  // Starts above every slot's 0, so empty slots never match.
  std::atomic<std::uint64_t> generation_{1};
  mutable slot slots_[Entries];
};

}  // namespace jitcm::lookup
