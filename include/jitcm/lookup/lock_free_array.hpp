// lookup::lock_free_array: a sorted array that readers search without locks,
// so stack walkers in signal handlers can find code.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include "../code.hpp"
#include "../result.hpp"

namespace jitcm::lookup {

/// Code sorted by start address in an immutable array; writers publish a new
/// array through an atomic pointer (copy on write) and free the old one after
/// a grace period: once every reader that could have seen it has left.
/// Readers announce themselves in one of two counters chosen by the parity
/// of an epoch; a writer flips the epoch twice and waits for each counter to
/// drain (the scheme of sleepable RCU), so it never waits for readers that
/// arrived after its new array was published.
///
/// Costs: `find` is a binary search over {begin, end, code} triples, plus two
/// atomic increments; `insert` and `erase` copy the array (O(n)) and wait for
/// the readers in flight.
///
/// Thread safety: all members may be called concurrently from any thread.
/// `find` takes no lock, allocates nothing, never blocks and never
/// dereferences a code object, so it is async-signal-safe and may interrupt
/// any other member on the same thread. `insert` and `erase` serialise on a
/// mutex and are not async-signal-safe. A reader that is suspended inside
/// `find` (a stopped thread) delays writers until it resumes.
class lock_free_array {
 public:
  lock_free_array() = default;
  lock_free_array(const lock_free_array&) = delete;
  lock_free_array& operator=(const lock_free_array&) = delete;
  ~lock_free_array() { delete current_.load(std::memory_order_relaxed); }

  /// Errors: invalid_argument (null), overlapping_region, out_of_memory.
  [[nodiscard]] result<void> insert(const code* c) noexcept {
    if (c == nullptr) return failure{errc::invalid_argument};
    const entry added{c->instruction_start(), c->instructions().end(), c};
    std::lock_guard lock{writer_mutex_};
    const snapshot* old = current_.load(std::memory_order_relaxed);
    const std::size_t old_size = old ? old->size : 0;
    const entry* old_begin = old ? old->entries.get() : nullptr;
    const entry* position = std::lower_bound(old_begin, old_begin + old_size, added.begin,
                                             [](const entry& e, std::uintptr_t begin) { return e.begin < begin; });
    const std::size_t at = static_cast<std::size_t>(position - old_begin);
    if (at < old_size && old_begin[at].begin < added.end) return failure{errc::overlapping_region};
    if (at > 0 && old_begin[at - 1].end > added.begin) return failure{errc::overlapping_region};

    snapshot* next = snapshot::create(old_size + 1);
    if (next == nullptr) return failure{errc::out_of_memory};
    std::copy(old_begin, old_begin + at, next->entries.get());
    next->entries[at] = added;
    std::copy(old_begin + at, old_begin + old_size, next->entries.get() + at + 1);
    publish(next);
    return {};
  }

  /// Errors: not_owned (`c` was not inserted), out_of_memory.
  [[nodiscard]] result<void> erase(const code* c) noexcept {
    std::lock_guard lock{writer_mutex_};
    const snapshot* old = current_.load(std::memory_order_relaxed);
    const std::size_t old_size = old ? old->size : 0;
    const entry* old_begin = old ? old->entries.get() : nullptr;
    const entry* position = std::find_if(old_begin, old_begin + old_size,
                                         [c](const entry& e) { return e.owner == c; });
    if (c == nullptr || position == old_begin + old_size) return failure{errc::not_owned};
    const std::size_t at = static_cast<std::size_t>(position - old_begin);

    snapshot* next = nullptr;
    if (old_size > 1) {
      next = snapshot::create(old_size - 1);
      if (next == nullptr) return failure{errc::out_of_memory};
      std::copy(old_begin, old_begin + at, next->entries.get());
      std::copy(old_begin + at + 1, old_begin + old_size, next->entries.get() + at);
    }
    publish(next);
    return {};
  }

  [[nodiscard]] const code* find(std::uintptr_t pc) const noexcept {
    const unsigned parity = epoch_.load(std::memory_order_seq_cst) & 1U;
    readers_[parity].count.fetch_add(1, std::memory_order_seq_cst);
    const code* found = nullptr;
    if (const snapshot* s = current_.load(std::memory_order_seq_cst)) {
      const entry* begin = s->entries.get();
      const entry* after = std::upper_bound(begin, begin + s->size, pc,
                                            [](std::uintptr_t p, const entry& e) { return p < e.begin; });
      if (after != begin && pc < (after - 1)->end) found = (after - 1)->owner;
    }
    // Release: our reads of the array happen before a writer frees it.
    readers_[parity].count.fetch_sub(1, std::memory_order_release);
    return found;
  }

  [[nodiscard]] std::size_t size() const noexcept {
    std::lock_guard lock{writer_mutex_};
    const snapshot* s = current_.load(std::memory_order_relaxed);
    return s ? s->size : 0;
  }

 private:
  struct entry {
    std::uintptr_t begin;
    std::uintptr_t end;
    const code* owner;
  };

  struct snapshot {
    std::size_t size = 0;
    std::unique_ptr<entry[]> entries;

    static snapshot* create(std::size_t size) noexcept {
      std::unique_ptr<snapshot> s{new (std::nothrow) snapshot};
      if (!s) return nullptr;
      s->entries.reset(new (std::nothrow) entry[size]);
      if (!s->entries) return nullptr;
      s->size = size;
      return s.release();
    }
  };

  // Apart, so readers on different parities do not share a cache line.
  struct alignas(64) reader_count {
    std::atomic<std::size_t> count{0};
  };
  static_assert(std::atomic<std::size_t>::is_always_lock_free, "find must be async-signal-safe");
  static_assert(std::atomic<const snapshot*>::is_always_lock_free, "find must be async-signal-safe");

  // Called with writer_mutex_ held.
  void publish(snapshot* next) noexcept {
    const snapshot* old = current_.exchange(next, std::memory_order_seq_cst);
    wait_for_readers();
    delete old;
  }

  // After the first flip new readers count on the other parity, so the old
  // one drains; a reader that read the epoch before the flip but counted
  // itself after the drain already sees the new array. The second flip does
  // the same for readers that were counted on the other parity.
  void wait_for_readers() const noexcept {
    for (int flip = 0; flip < 2; ++flip) {
      const unsigned parity = epoch_.fetch_add(1, std::memory_order_seq_cst) & 1U;
      while (readers_[parity].count.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }
  }

  std::atomic<const snapshot*> current_{nullptr};
  mutable std::atomic<unsigned> epoch_{0};
  mutable reader_count readers_[2];
  mutable std::mutex writer_mutex_;
};

}  // namespace jitcm::lookup
