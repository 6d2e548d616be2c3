// W^X by toggling page protection: code pages are read-execute at rest and
// read-write only inside a write scope.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "../detail/assert.hpp"
#include "../platform/instruction_cache.hpp"
#include "../platform/reservation.hpp"
#include "detail/page_set.hpp"
#include "detail/page_span.hpp"

namespace jitcm::protection {

/// Pages are RX at rest. A write scope makes the pages it covers RW and, when
/// the outermost scope of the thread ends, turns them back to RX and flushes
/// the instruction cache: however many functions are written inside one
/// scope, that is one protection change there and one back per region.
///
/// A protection change applies to every thread, so a space lets one thread
/// write at a time: a write scope holds the space's write lock until the
/// outermost scope ends, and must end on the thread that began it. Nested
/// scopes of that thread covering pages already writable change nothing;
/// a nested scope covering other pages makes those writable too.
///
/// So a write scope takes execute permission from its pages for every
/// thread (write_revokes_execute), and allocators give every block pages of
/// its own (exclusive_pages, the default that follows): new code is written
/// on pages no published code lies on, sealed RX when its scope ends, and a
/// page is written again only after the block on it was freed. Threads may
/// run published code while others write. The cost: up to a page per block
/// (a 100-byte function takes 4 KiB), so batch small functions into one
/// block. Rewriting published code in place (inline caches) still takes
/// execute permission from it while the scope is open: use dual_mapping for
/// code patched while it runs. protection::mprotect_toggle_single_threaded
/// packs blocks instead, for JITs whose code never runs while they write.
///
/// Only pages committed as code (commit) may be written: a write scope never
/// makes reserved or data pages accessible. When the OS refuses to make pages
/// RX again at the end of a scope, the space remembers them: until it has
/// made them RX (it retries before every begin_write and ready()), it refuses
/// to be written or allocated in with errc::space_unusable, so code is never
/// placed or published in pages that cannot execute.
///
/// Thread safety: begin_write from any thread (serialised per space);
/// commit, commit_data and decommit from any thread on disjoint regions.
struct mprotect_toggle {
  static constexpr const char* name = "mprotect_toggle";
  static constexpr bool write_revokes_execute = true;

  class space;

  class write_scope {
   public:
    write_scope() noexcept = default;
    write_scope(write_scope&& other) noexcept : writers_{std::exchange(other.writers_, nullptr)} {}
    write_scope& operator=(write_scope&& other) noexcept {
      if (this != &other) {
        JITCM_ASSERT_CLEANUP(end());
        writers_ = std::exchange(other.writers_, nullptr);
      }
      return *this;
    }
    ~write_scope() { JITCM_ASSERT_CLEANUP(end()); }

    /// Errors: the OS error when a page could not be made RX again. The
    /// scope still ends and releases the space; those pages stay RW and the
    /// space answers errc::space_unusable until it makes them RX.
    result<void> end() noexcept;

   private:
    friend class space;
    friend struct mprotect_toggle;
    struct writers;
    explicit write_scope(writers* w) noexcept : writers_{w} {}
    // The space's writer state lives on the heap, so a scope stays valid
    // when the space object itself is moved (allocators keep spaces in
    // growing containers).
    writers* writers_ = nullptr;
  };

  class space {
   public:
    space() noexcept = default;

    [[nodiscard]] address_region region() const noexcept { return memory_.region(); }

    // On error each leaves the pages as they were (see platform::reservation).
    [[nodiscard]] result<void> commit(address_region part) const noexcept;
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept;
    [[nodiscard]] result<void> decommit(address_region part) const noexcept;
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address;
    }

    /// Errors: invalid_argument (empty), out_of_range (outside the space),
    /// not_committed (a page of `part` is not committed as code),
    /// space_unusable (pages a failed scope left RW still cannot be made
    /// RX), the OS error of a refused protection change; nothing changed on
    /// error.
    [[nodiscard]] result<write_scope> begin_write(address_region part) noexcept;

    /// No error when code may be placed in the space; errc::space_unusable
    /// while pages a failed scope left RW cannot be made RX (tried again on
    /// each call). Allocators ask before handing out a block.
    [[nodiscard]] result<void> ready() noexcept;

   private:
    friend struct mprotect_toggle;
    space(platform::reservation memory, std::unique_ptr<write_scope::writers> writers) noexcept;

    platform::reservation memory_;
    std::unique_ptr<write_scope::writers> writers_;
  };

  /// Errors: as platform::reserve; ENOMEM when the space's bookkeeping
  /// cannot be allocated (nothing stays reserved then).
  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept;
};

/// Who writes into one space, which of its pages are writable now, which
/// are committed as code, and which a failed scope left writable.
struct mprotect_toggle::write_scope::writers {
  std::mutex lock;
  std::atomic<std::thread::id> owner{};
  int depth = 0;
  std::vector<address_region> writable_pages;
  std::vector<address_region> stuck_pages;  // could not be made RX again
  std::atomic<bool> stuck{false};
  detail::page_set code_pages;

  /// Errors: ENOMEM.
  static result<std::unique_ptr<writers>> create(address_region region) noexcept {
    if (jitcm::detail::side_allocation_refused()) return system_failure(ENOMEM);
    std::unique_ptr<writers> created{new (std::nothrow) writers};
    if (!created) return system_failure(ENOMEM);
    auto pages = detail::page_set::for_region(region);
    if (!pages) return forward_error(pages);
    created->code_pages = std::move(*pages);
    return created;
  }

  result<write_scope> begin(address_region pages) noexcept {
    const bool nested = owner.load(std::memory_order_relaxed) == std::this_thread::get_id();
    if (!nested) {
      lock.lock();
      owner.store(std::this_thread::get_id(), std::memory_order_relaxed);
      if (auto ok = restore_stuck(); !ok) {
        unlock();
        return forward_error(ok);
      }
    }
    if (auto ok = make_writable(pages); !ok) {
      if (!nested) unlock();
      return forward_error(ok);
    }
    ++depth;
    return write_scope{this};
  }

  result<void> end() noexcept {
    if (--depth > 0) return {};
    result<void> outcome;
    // Pages that stay RW are kept at the front and become the stuck pages
    // (stuck_pages is empty while a scope is open): nothing is allocated.
    std::size_t kept = 0;
    for (const address_region pages : writable_pages) {
      auto restored = platform::protect(pages, platform::access::read_execute);
      if (restored) {
        platform::flush_instruction_cache(pages.begin(), pages.size());
        continue;
      }
      if (outcome) outcome = restored;
      writable_pages[kept++] = pages;
    }
    writable_pages.resize(kept);
    stuck_pages.swap(writable_pages);
    writable_pages.clear();
    stuck.store(kept != 0, std::memory_order_release);
    unlock();
    return outcome;
  }

  result<void> ready() noexcept {
    if (!stuck.load(std::memory_order_acquire)) return {};
    // Never wait for the lock: its holder may be a writer that allocates
    // (allocators call this under their own lock). A holder is restoring
    // the pages in begin(); only its outcome counts. (Stuck pages exist only
    // while no scope is open, so this thread does not hold the lock.)
    std::unique_lock guard{lock, std::try_to_lock};
    if (!guard.owns_lock()) {
      return stuck.load(std::memory_order_acquire) ? result<void>{failure{errc::space_unusable}} : result<void>{};
    }
    return restore_stuck();
  }

 private:
  // With the lock held: makes what a failed scope left RW executable again.
  result<void> restore_stuck() noexcept {
    if (!stuck.load(std::memory_order_relaxed)) return {};
    while (!stuck_pages.empty()) {
      const address_region pages = stuck_pages.back();
      if (!platform::protect(pages, platform::access::read_execute)) return failure{errc::space_unusable};
      platform::flush_instruction_cache(pages.begin(), pages.size());
      stuck_pages.pop_back();
    }
    stuck.store(false, std::memory_order_release);
    return {};
  }

  result<void> make_writable(address_region pages) noexcept {
    for (const address_region open : writable_pages) {
      if (open.contains(pages)) return {};
    }
    if (auto ok = platform::protect(pages, platform::access::read_write); !ok) return ok;
    writable_pages.push_back(pages);
    return {};
  }

  void unlock() noexcept {
    owner.store(std::thread::id{}, std::memory_order_relaxed);
    lock.unlock();
  }
};

inline mprotect_toggle::space::space(platform::reservation memory,
                                     std::unique_ptr<write_scope::writers> writers) noexcept
    : memory_{std::move(memory)}, writers_{std::move(writers)} {}

inline result<mprotect_toggle::space> mprotect_toggle::reserve(std::size_t bytes, std::uintptr_t hint,
                                                               std::size_t alignment) noexcept {
  auto memory = platform::reservation::reserve(bytes, hint, alignment);
  if (!memory) return forward_error(memory);
  auto writers = write_scope::writers::create(memory->region());
  if (!writers) return forward_error(writers);
  return space{std::move(*memory), std::move(*writers)};
}

inline result<void> mprotect_toggle::space::commit(address_region part) const noexcept {
  if (auto ok = memory_.commit(part, platform::access::read_execute); !ok) return ok;
  writers_->code_pages.insert(part);
  return {};
}

inline result<void> mprotect_toggle::space::commit_data(address_region part) const noexcept {
  if (auto ok = memory_.commit(part, platform::access::read_write); !ok) return ok;
  writers_->code_pages.erase(part);
  return {};
}

inline result<void> mprotect_toggle::space::decommit(address_region part) const noexcept {
  if (auto ok = memory_.decommit(part); !ok) return ok;
  writers_->code_pages.erase(part);
  return {};
}

inline result<mprotect_toggle::write_scope> mprotect_toggle::space::begin_write(address_region part) noexcept {
  if (auto ok = detail::check_inside(region(), part); !ok) return forward_error(ok);
  const address_region pages = detail::pages_holding(part);
  if (!writers_->code_pages.contains(pages)) return failure{errc::not_committed};
  return writers_->begin(pages);
}

inline result<void> mprotect_toggle::space::ready() noexcept { return writers_->ready(); }

inline result<void> mprotect_toggle::write_scope::end() noexcept {
  if (writers_ == nullptr) return {};
  return std::exchange(writers_, nullptr)->end();
}

}  // namespace jitcm::protection
