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
#include <span>
#include <thread>
#include <utility>

#include "../base/code.hpp"
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
  ~lock_free_array() { delete current_.load(std::memory_order_relaxed); }

  /// Errors: invalid_argument (null), overlapping_region, out_of_memory.
  [[nodiscard]] result<void> insert(const code* c) noexcept {
    if (c == nullptr) return failure{errc::invalid_argument};
    const entry added{c->instruction_start(), c->instructions().end(), c};
    std::lock_guard lock{writer_mutex_};
    const std::span<const entry> old = current_entries();
    const auto position = std::lower_bound(old.begin(), old.end(), added.begin,
                                           [](const entry& e, std::uintptr_t begin) { return e.begin < begin; });
    const std::size_t at = static_cast<std::size_t>(position - old.begin());
    if (at < old.size() && old[at].begin < added.end) return failure{errc::overlapping_region};
    if (at > 0 && old[at - 1].end > added.begin) return failure{errc::overlapping_region};

    if (at == old.size() && old.size() < capacity_) {
      // No reader of any view looks at index old.size(): write it in place.
      buffer_[at] = added;
      return publish(old.size() + 1);
    }
    const std::size_t capacity = std::max<std::size_t>(16, (old.size() + 1) * 2);
    std::unique_ptr<entry[]> fresh{new (std::nothrow) entry[capacity]};
    if (!fresh) return failure{errc::out_of_memory};
    std::copy(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(at), fresh.get());
    fresh[at] = added;
    std::copy(old.begin() + static_cast<std::ptrdiff_t>(at), old.end(), fresh.get() + at + 1);
    return publish(old.size() + 1, std::move(fresh), capacity);
  }

  /// Errors: not_owned (`c` was not inserted), out_of_memory.
  [[nodiscard]] result<void> erase(const code* c) noexcept {
    std::lock_guard lock{writer_mutex_};
    const std::span<const entry> old = current_entries();
    const auto position = std::find_if(old.begin(), old.end(), [c](const entry& e) { return e.owner == c; });
    if (c == nullptr || position == old.end()) return failure{errc::not_owned};
    const std::size_t at = static_cast<std::size_t>(position - old.begin());

    std::unique_ptr<entry[]> fresh{new (std::nothrow) entry[capacity_]};
    if (!fresh) return failure{errc::out_of_memory};
    std::copy(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(at), fresh.get());
    std::copy(old.begin() + static_cast<std::ptrdiff_t>(at) + 1, old.end(), fresh.get() + at);
    return publish(old.size() - 1, std::move(fresh), capacity_);
  }

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

  [[nodiscard]] std::size_t size() const noexcept {
    std::lock_guard lock{writer_mutex_};
    return current_entries().size();
  }

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

  [[nodiscard]] std::span<const entry> current_entries() const noexcept {
    const view* v = current_.load(std::memory_order_relaxed);
    return v ? std::span<const entry>{v->entries, v->size} : std::span<const entry>{};
  }

  // Makes the first `size` entries of `fresh` (or, without it, of buffer_)
  // the current view; frees the old view, and the old array if `fresh`
  // replaces it, once no reader can be in them. On error nothing changed.
  [[nodiscard]] result<void> publish(std::size_t size, std::unique_ptr<entry[]> fresh = nullptr,
                                     std::size_t capacity = 0) noexcept {
    view* next = nullptr;
    if (size > 0) {
      next = new (std::nothrow) view{size, fresh ? fresh.get() : buffer_.get()};
      if (next == nullptr) return failure{errc::out_of_memory};
    }
    std::unique_ptr<entry[]> retired;
    if (fresh) {
      retired = std::exchange(buffer_, std::move(fresh));
      capacity_ = capacity;
    }
    const view* old = current_.exchange(next, std::memory_order_seq_cst);
    wait_for_readers();
    delete old;
    return {};
  }

  // After the first flip new readers count on the other parity, so the old
  // one drains; a reader that read the epoch before the flip but counted
  // itself after the drain already sees the new view. The second flip does
  // the same for readers that were counted on the other parity.
  void wait_for_readers() const noexcept {
    for (int flip = 0; flip < 2; ++flip) {
      const unsigned parity = epoch_.fetch_add(1, std::memory_order_seq_cst) & 1U;
      while (readers_[parity].count.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }
  }

  std::atomic<const view*> current_{nullptr};
  mutable std::atomic<unsigned> epoch_{0};
  mutable reader_count readers_[2];
  mutable std::mutex writer_mutex_;
  std::unique_ptr<entry[]> buffer_;  // the array the current view points into
  std::size_t capacity_ = 0;
};

}  // namespace jitcm::lookup
