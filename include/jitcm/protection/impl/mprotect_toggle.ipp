// Definitions of <jitcm/protection/mprotect_toggle.hpp>: inline there by
// default, compiled once by <jitcm/separate_compilation.hpp> under separate
// compilation. The writer state lives here only: a space reaches it
// through a pointer.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "../../platform/instruction_cache.hpp"
#include "../detail/page_set.hpp"
#include "../detail/page_span.hpp"
#include "../mprotect_toggle.hpp"

namespace jitcm::protection {

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

JITCM_DECL mprotect_toggle::space::space(platform::reservation memory,
                                         std::unique_ptr<write_scope::writers> writers) noexcept
    : memory_{std::move(memory)}, writers_{std::move(writers)} {}

JITCM_DECL mprotect_toggle::space::space(space&& other) noexcept = default;
JITCM_DECL mprotect_toggle::space& mprotect_toggle::space::operator=(space&& other) noexcept = default;
JITCM_DECL mprotect_toggle::space::~space() = default;

JITCM_DECL result<mprotect_toggle::space> mprotect_toggle::reserve(std::size_t bytes, std::uintptr_t hint,
                                                                   std::size_t alignment) noexcept {
  auto memory = platform::reservation::reserve(bytes, hint, alignment);
  if (!memory) return forward_error(memory);
  auto writers = write_scope::writers::create(memory->region());
  if (!writers) return forward_error(writers);
  return space{std::move(*memory), std::move(*writers)};
}

JITCM_DECL result<void> mprotect_toggle::space::commit(address_region part) const noexcept {
  if (auto ok = memory_.commit(part, platform::access::read_execute); !ok) return ok;
  writers_->code_pages.insert(part);
  return {};
}

JITCM_DECL result<void> mprotect_toggle::space::commit_data(address_region part) const noexcept {
  if (auto ok = memory_.commit(part, platform::access::read_write); !ok) return ok;
  writers_->code_pages.erase(part);
  return {};
}

JITCM_DECL result<void> mprotect_toggle::space::decommit(address_region part) const noexcept {
  if (auto ok = memory_.decommit(part); !ok) return ok;
  writers_->code_pages.erase(part);
  return {};
}

JITCM_DECL result<mprotect_toggle::write_scope> mprotect_toggle::space::begin_write(address_region part) noexcept {
  if (auto ok = detail::check_inside(region(), part); !ok) return forward_error(ok);
  const address_region pages = detail::pages_holding(part);
  if (!writers_->code_pages.contains(pages)) return failure{errc::not_committed};
  return writers_->begin(pages);
}

JITCM_DECL result<void> mprotect_toggle::space::ready() noexcept { return writers_->ready(); }

JITCM_DECL result<void> mprotect_toggle::write_scope::end() noexcept {
  if (writers_ == nullptr) return {};
  return std::exchange(writers_, nullptr)->end();
}

}  // namespace jitcm::protection
