// Definitions of <jitcm/allocator/bump.hpp> (see tlsf.ipp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "../detail/aligned_inside.hpp"
#include "../bump.hpp"

namespace jitcm::allocator {

// Out of line, as the rest: constructing the vector of cursors and the map
// of live blocks means instantiating their destructors too.
JITCM_DECL bump_free_space::bump_free_space(std::size_t alignment) noexcept : alignment_{alignment} {}

JITCM_DECL bool bump_free_space::add_space(address_region code) {
  cursors_.push_back({code.begin(), code.end()});
  return true;
}

JITCM_DECL address_region bump_free_space::allocate_in_region(std::size_t bytes, address_region within) {
  const address_region inside = detail::aligned_inside(within, alignment_);
  if (inside.empty()) return {};
  for (cursor& c : cursors_) {
    const std::uintptr_t begin = std::max(c.next, inside.begin());
    const std::uintptr_t end = std::min(c.end, inside.end());
    if (end > begin && end - begin >= bytes) return take(c, begin, bytes);
  }
  return {};
}

JITCM_DECL void bump_free_space::undo(address_region r) {
  live_.erase(r.begin());
  for (cursor& c : cursors_) {
    if (c.next == r.end()) {
      c.next = r.begin();
      return;
    }
  }
}

JITCM_DECL std::error_code bump_free_space::free(address_region r) {
  const std::size_t* size = live_.find(r.begin());
  if (size == nullptr) return make_error_code(errc::double_free);
  if (*size != r.size()) return make_error_code(errc::invalid_argument);
  live_.erase(r.begin());
  return {};
}

JITCM_DECL address_region bump_free_space::take(cursor& c, std::uintptr_t begin, std::size_t bytes) {
  if (begin > c.end || c.end - begin < bytes) return {};
  c.next = begin + bytes;
  live_.insert(begin, bytes);
  return {begin, bytes};
}

}  // namespace jitcm::allocator
