// lookup::lock_free_array: a sorted array that readers search without locks,
// so stack walkers in signal handlers can find code.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "../base/detail/owned_array.hpp"
#include "../base/result.hpp"

namespace jitcm::lookup {

/// Code sorted by start address in an array that readers search without
/// locks. A writer never changes entries a reader may see: it publishes a
/// new view {size, entries} through an atomic pointer and frees the old view
/// (and the old array, if it copied) after a grace period, once every reader
/// that could have seen it has left. Readers announce themselves in one of
/// two counters chosen by the parity of an epoch; a writer flips the epoch
/// twice and waits for each counter to drain (the scheme of sleepable RCU),
/// so it never waits for readers that arrived after its view was published.
///
/// Costs: `find` is a binary search over {begin, end, code} triples, plus two
/// atomic increments. `insert` of code above everything inserted so far
/// (what an allocator filling a code space hands out) appends in place into
/// spare capacity: O(1) plus the grace period. Other inserts and every
/// `erase` copy the array: O(n) plus the grace period.
///
/// Thread safety: all members may be called concurrently from any thread.
/// `find` takes no lock, allocates nothing, never blocks and never
/// dereferences a code object, so it is async-signal-safe and may interrupt
/// any other member on the same thread. `insert` and `erase` serialise on a
/// mutex and are not async-signal-safe. A reader that is suspended inside
/// `find` (a stopped thread) delays writers until it resumes.
class lock_free_array {
 public:
  static constexpr bool async_signal_safe = true;  // find, as described above
  lock_free_array() = default;
  lock_free_array(const lock_free_array&) = delete;
  lock_free_array& operator=(const lock_free_array&) = delete;
  ~lock_free_array();

  /// Errors: invalid_argument (null), overlapping_region, out_of_memory.
  [[nodiscard]] result<void> insert(const code* c) noexcept;

  /// Errors: not_owned (`c` was not inserted), out_of_memory.
  [[nodiscard]] result<void> erase(const code* c) noexcept;

  [[nodiscard]] const code* find(std::uintptr_t pc) const noexcept {
    const unsigned parity = epoch_.load(std::memory_order_seq_cst) & 1U;
    readers_[parity].count.fetch_add(1, std::memory_order_seq_cst);
    const code* found = nullptr;
    if (const view* v = current_.load(std::memory_order_seq_cst)) {
      const entry* begin = v->entries;
      const entry* after =
          std::upper_bound(begin, begin + v->size, pc, [](std::uintptr_t p, const entry& e) { return p < e.begin; });
      if (after != begin && pc < (after - 1)->end) found = (after - 1)->owner;
    }
    // Release: our reads of the array happen before a writer frees it.
    readers_[parity].count.fetch_sub(1, std::memory_order_release);
    return found;
  }

  [[nodiscard]] std::size_t size() const noexcept;

 private:
  struct entry {
    std::uintptr_t begin;
    std::uintptr_t end;
    const code* owner;
  };

  struct view {
    std::size_t size;
    const entry* entries;
  };

  // Apart, so readers on different parities do not share a cache line.
  struct alignas(64) reader_count {
    std::atomic<std::size_t> count{0};
  };
  static_assert(std::atomic<std::size_t>::is_always_lock_free, "find must be async-signal-safe");
  static_assert(std::atomic<const view*>::is_always_lock_free, "find must be async-signal-safe");

  // The rest is called with writer_mutex_ held.

  // Out of line with the writers that use it: a span built inline is
  // instantiated in every TU.
  [[nodiscard]] std::span<const entry> current_entries() const noexcept;

  // Makes the first `size` entries of `fresh` (or, without it, of buffer_)
  // the current view; frees the old view, and the old array if `fresh`
  // replaces it, once no reader can be in them. On error nothing changed.
  [[nodiscard]] result<void> publish(std::size_t size, jitcm::detail::owned_array<entry> fresh = {},
                                     std::size_t capacity = 0) noexcept;

  // After the first flip new readers count on the other parity, so the old
  // one drains; a reader that read the epoch before the flip but counted
  // itself after the drain already sees the new view. The second flip does
  // the same for readers that were counted on the other parity.
  void wait_for_readers() const noexcept;

  std::atomic<const view*> current_{nullptr};
  mutable std::atomic<unsigned> epoch_{0};
  mutable reader_count readers_[2];
  mutable std::mutex writer_mutex_;
  jitcm::detail::owned_array<entry> buffer_;  // the array the current view points into
  std::size_t capacity_ = 0;
};

}  // namespace jitcm::lookup

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/lock_free_array.ipp"  // IWYU pragma: export
#endif
