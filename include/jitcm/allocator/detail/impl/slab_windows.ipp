// Definitions of <jitcm/allocator/detail/slab_windows.hpp> (see
// allocator/impl/tlsf.ipp): what makes, fills and frees the tables; find,
// on every free, stays inline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "../../../platform/fault_injection.hpp"
#include "../slab_windows.hpp"

namespace jitcm::allocator::detail {

JITCM_DECL slab_windows::slab_windows(unsigned window_shift) noexcept : shift_{window_shift} {}

JITCM_DECL slab_windows::~slab_windows() {
  for (const region& r : regions_) std::free(r.windows);
}

JITCM_DECL bool slab_windows::add(std::uintptr_t begin, std::uint32_t id, std::uint32_t tag) {
  window* first = window_of(begin);
  window* last = window_of(begin + size() - 1);
  if (first == nullptr || last == nullptr) return false;
  const slab added{begin, id, tag};
  claim(*first, added);
  if (last != first) claim(*last, added);
  return true;
}

JITCM_DECL void slab_windows::remove(std::uintptr_t begin) noexcept {
  for (const std::uintptr_t address : {begin, begin + size() - 1}) {
    for (slab& entry : existing_window(address)->slabs) {
      if (entry.id != 0 && entry.begin == begin) entry = slab{};
    }
  }
}

JITCM_DECL slab_windows::window* slab_windows::window_of(std::uintptr_t address) {
  if (window* w = existing_window(address)) return w;
  if (jitcm::detail::side_allocation_refused()) return nullptr;
  regions_.reserve(regions_.size() + 1);
  const std::size_t count = std::size_t{1} << (region_bits - shift_);
  auto* windows = static_cast<window*>(std::calloc(count, sizeof(window)));
  if (windows == nullptr) return nullptr;
  regions_.push_back(region{static_cast<std::uint64_t>(address) >> region_bits, windows});
  return &windows[index(address)];
}

JITCM_DECL void slab_windows::claim(window& w, const slab& added) noexcept {
  w.slabs[w.slabs[0].id == 0 ? 0 : 1] = added;
}

}  // namespace jitcm::allocator::detail
