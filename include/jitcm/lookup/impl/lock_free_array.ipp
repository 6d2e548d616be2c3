// Definitions of <jitcm/lookup/lock_free_array.hpp> (see
// allocator/impl/tlsf.ipp): the writers' side and the destructor; find
// stays inline.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <span>
#include <thread>
#include <utility>

#include "../lock_free_array.hpp"

namespace jitcm::lookup {

// Out of line: destroying the array's buffer is a delete[] every TU
// instantiated.
JITCM_DECL lock_free_array::~lock_free_array() { delete current_.load(std::memory_order_relaxed); }

JITCM_DECL std::span<const lock_free_array::entry> lock_free_array::current_entries() const noexcept {
  const view* v = current_.load(std::memory_order_relaxed);
  return v ? std::span<const entry>{v->entries, v->size} : std::span<const entry>{};
}

JITCM_DECL result<void> lock_free_array::insert(const code* c) noexcept {
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
  jitcm::detail::owned_array<entry> fresh{new (std::nothrow) entry[capacity]};
  if (!fresh) return failure{errc::out_of_memory};
  std::copy(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(at), fresh.get());
  fresh[at] = added;
  std::copy(old.begin() + static_cast<std::ptrdiff_t>(at), old.end(), fresh.get() + at + 1);
  return publish(old.size() + 1, std::move(fresh), capacity);
}

JITCM_DECL result<void> lock_free_array::erase(const code* c) noexcept {
  std::lock_guard lock{writer_mutex_};
  const std::span<const entry> old = current_entries();
  const auto position = std::find_if(old.begin(), old.end(), [c](const entry& e) { return e.owner == c; });
  if (c == nullptr || position == old.end()) return failure{errc::not_owned};
  const std::size_t at = static_cast<std::size_t>(position - old.begin());

  jitcm::detail::owned_array<entry> fresh{new (std::nothrow) entry[capacity_]};
  if (!fresh) return failure{errc::out_of_memory};
  std::copy(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(at), fresh.get());
  std::copy(old.begin() + static_cast<std::ptrdiff_t>(at) + 1, old.end(), fresh.get() + at);
  return publish(old.size() - 1, std::move(fresh), capacity_);
}

JITCM_DECL std::size_t lock_free_array::size() const noexcept {
  std::lock_guard lock{writer_mutex_};
  return current_entries().size();
}

JITCM_DECL result<void> lock_free_array::publish(std::size_t size, jitcm::detail::owned_array<entry> fresh,
                                                 std::size_t capacity) noexcept {
  view* next = nullptr;
  if (size > 0) {
    next = new (std::nothrow) view{size, fresh ? fresh.get() : buffer_.get()};
    if (next == nullptr) return failure{errc::out_of_memory};
  }
  jitcm::detail::owned_array<entry> retired;
  if (fresh) {
    retired = std::exchange(buffer_, std::move(fresh));
    capacity_ = capacity;
  }
  const view* old = current_.exchange(next, std::memory_order_seq_cst);
  wait_for_readers();
  delete old;
  return {};
}

JITCM_DECL void lock_free_array::wait_for_readers() const noexcept {
  for (int flip = 0; flip < 2; ++flip) {
    const unsigned parity = epoch_.fetch_add(1, std::memory_order_seq_cst) & 1U;
    while (readers_[parity].count.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
}

}  // namespace jitcm::lookup
