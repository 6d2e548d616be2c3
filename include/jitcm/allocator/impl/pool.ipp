// Definitions of <jitcm/allocator/pool.hpp> (see tlsf.ipp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <system_error>

#include "../detail/aligned_inside.hpp"
#include "../pool.hpp"

namespace jitcm::allocator {

// Out of line, as the rest: constructing the vector of spaces and the map
// of live blocks means instantiating their destructors too.
JITCM_DECL pool_free_space::pool_free_space(std::size_t alignment) noexcept : alignment_{alignment} {}

JITCM_DECL bool pool_free_space::add_space(address_region code) {
  auto at = std::upper_bound(spaces_.begin(), spaces_.end(), code.begin(),
                             [](std::uintptr_t a, const space_entry& s) { return a < s.code.begin(); });
  at = spaces_.insert(at, space_entry{code, disjoint_pool{code}});
  return true;
}

JITCM_DECL address_region pool_free_space::allocate(std::size_t bytes) {
  for (space_entry& s : spaces_) {
    if (const address_region r = s.free.allocate(bytes); !r.empty()) return remember(r);
  }
  return {};
}

JITCM_DECL address_region pool_free_space::allocate_in_region(std::size_t bytes, address_region within) {
  const address_region inside = detail::aligned_inside(within, alignment_);
  if (inside.empty()) return {};
  for (space_entry& s : spaces_) {
    if (!s.code.overlaps(inside)) continue;
    if (const address_region r = s.free.allocate_in_region(bytes, inside); !r.empty()) return remember(r);
  }
  return {};
}

JITCM_DECL void pool_free_space::undo(address_region r) {
  live_.erase(r.begin());
  (void)space_of(r.begin()).free.merge(r);
}

JITCM_DECL std::error_code pool_free_space::free(address_region r) {
  const std::size_t* size = live_.find(r.begin());
  if (size == nullptr) return make_error_code(errc::double_free);
  if (*size != r.size()) return make_error_code(errc::invalid_argument);
  live_.erase(r.begin());
  (void)space_of(r.begin()).free.merge(r);
  return {};
}

JITCM_DECL address_region pool_free_space::free_at(std::uintptr_t address) {
  const std::size_t* size = live_.find(address);
  if (size == nullptr) return {};
  const address_region block{address, *size};
  (void)free(block);
  return block;
}

JITCM_DECL pool_free_space::space_entry& pool_free_space::space_of(std::uintptr_t address) {
  auto at = std::upper_bound(spaces_.begin(), spaces_.end(), address,
                             [](std::uintptr_t a, const space_entry& s) { return a < s.code.begin(); });
  return *std::prev(at);
}

JITCM_DECL address_region pool_free_space::remember(address_region r) {
  live_.insert(r.begin(), r.size());
  return r;
}

}  // namespace jitcm::allocator
