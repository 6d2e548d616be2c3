// Definitions of <jitcm/code_observer.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <algorithm>
#include <charconv>
#include <span>
#include <vector>

#include "../code_observer.hpp"

namespace jitcm {

JITCM_DECL slot_name::slot_name(const jump_table_slot& s) noexcept {
  const std::string_view prefix = s.kind == slot_kind::jump_slot ? "jitcm::jump_slot[" : "jitcm::lazy_slot[";
  char* out = std::copy(prefix.begin(), prefix.end(), text_.data());
  out = std::to_chars(out, text_.data() + text_.size() - 1, s.index).ptr;
  *out++ = ']';
  size_ = static_cast<std::size_t>(out - text_.data());
}

JITCM_DECL std::string_view slot_name::view() const noexcept { return {text_.data(), size_}; }

namespace detail {

JITCM_DECL void code_observer_list::add(code_observer& observer) {
  std::lock_guard lock{mutex_};
  if (std::find(observers_.begin(), observers_.end(), &observer) == observers_.end()) {
    observers_.push_back(&observer);
  }
}

JITCM_DECL bool code_observer_list::remove(code_observer& observer) {
  std::lock_guard lock{mutex_};
  const auto found = std::find(observers_.begin(), observers_.end(), &observer);
  if (found == observers_.end()) return false;
  observers_.erase(found);
  return true;
}

JITCM_DECL void code_observer_list::added(const code& c) const noexcept { notify(&code_observer::on_code_added, c); }

JITCM_DECL void code_observer_list::freed(const code& c) const noexcept { notify(&code_observer::on_code_freed, c); }

JITCM_DECL void code_observer_list::moved(const code& c, address_region from) const noexcept {
  notify(&code_observer::on_code_moved, c, from);
}

JITCM_DECL void code_observer_list::batch_ended() const noexcept { notify(&code_observer::on_batch_end); }

JITCM_DECL void code_observer_list::announce_slots(
    void (code_observer::*callback)(std::span<const jump_table_slot>) noexcept, const jump_table::table_view& view,
    const slot_offsets& offsets) const {
  if (empty() || view.slots == 0) return;
  std::vector<jump_table_slot> slots;
  slots.reserve(std::size_t{view.slots} * 2);
  for (std::uint32_t slot = 0; slot < view.slots; ++slot) {
    const std::uintptr_t near = view.code_base + offsets.near(slot);
    const std::uintptr_t lazy = view.code_base + offsets.lazy(slot);
    const std::uint32_t index = view.first_index + slot;
    slots.push_back({address_region{near, lazy - near}, slot_kind::jump_slot, index});
    slots.push_back({address_region{lazy, offsets.lazy_size}, slot_kind::lazy_slot, index});
  }
  notify(callback, std::span<const jump_table_slot>{slots});
}

JITCM_DECL bool code_observer_list::empty() const {
  std::lock_guard lock{mutex_};
  return observers_.empty();
}

}  // namespace detail
}  // namespace jitcm
