// W^X by toggling page protection: code pages are read-execute at rest and
// read-write only inside a write scope.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "../platform/instruction_cache.hpp"
#include "../platform/reservation.hpp"
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
        (void)end();
        writers_ = std::exchange(other.writers_, nullptr);
      }
      return *this;
    }
    ~write_scope() { (void)end(); }

    /// Errors: the OS error when a page could not be made RX again (the
    /// scope still ends and releases the space).
    result<void> end() noexcept;

   private:
    friend class space;
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

    [[nodiscard]] result<void> commit(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read_execute);
    }
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read_write);
    }
    [[nodiscard]] result<void> decommit(address_region part) const noexcept { return memory_.decommit(part); }
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address;
    }

    /// Errors: invalid_argument (empty), out_of_range (outside the space),
    /// the OS error of a refused protection change (nothing changed then).
    [[nodiscard]] result<write_scope> begin_write(address_region part) noexcept;

   private:
    friend struct mprotect_toggle;
    explicit space(platform::reservation memory);

    platform::reservation memory_;
    std::unique_ptr<write_scope::writers> writers_;
  };

  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept {
    auto memory = platform::reservation::reserve(bytes, hint, alignment);
    if (!memory) return forward_error(memory);
    return space{std::move(*memory)};
  }
};

/// Who writes into one space, and which of its pages are writable now.
struct mprotect_toggle::write_scope::writers {
  std::mutex lock;
  std::atomic<std::thread::id> owner{};
  int depth = 0;
  std::vector<address_region> writable_pages;

  result<write_scope> begin(address_region pages) noexcept {
    const bool nested = owner.load(std::memory_order_relaxed) == std::this_thread::get_id();
    if (!nested) {
      lock.lock();
      owner.store(std::this_thread::get_id(), std::memory_order_relaxed);
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
    for (const address_region pages : writable_pages) {
      auto restored = platform::protect(pages, platform::access::read_execute);
      if (!restored && outcome) outcome = restored;
      platform::flush_instruction_cache(pages.begin(), pages.size());
    }
    writable_pages.clear();
    unlock();
    return outcome;
  }

 private:
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

inline mprotect_toggle::space::space(platform::reservation memory)
    : memory_{std::move(memory)}, writers_{std::make_unique<write_scope::writers>()} {}

inline result<mprotect_toggle::write_scope> mprotect_toggle::space::begin_write(address_region part) noexcept {
  if (auto ok = detail::check_inside(region(), part); !ok) return forward_error(ok);
  return writers_->begin(detail::pages_holding(part));
}

inline result<void> mprotect_toggle::write_scope::end() noexcept {
  if (writers_ == nullptr) return {};
  return std::exchange(writers_, nullptr)->end();
}

}  // namespace jitcm::protection
