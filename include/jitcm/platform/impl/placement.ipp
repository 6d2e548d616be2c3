// Definitions of <jitcm/platform/placement.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <limits>

#include "../placement.hpp"

namespace jitcm::platform {

JITCM_DECL address_region within_reach(address_region runtime, std::size_t reach) noexcept {
  if (runtime.empty() || runtime.size() > reach) return {};
  const std::uintptr_t floor = page_size();
  const std::uintptr_t top = std::numeric_limits<std::uintptr_t>::max();
  const std::uintptr_t low = runtime.end() > reach ? std::max(runtime.end() - reach, floor) : floor;
  const std::uintptr_t high = top - runtime.begin() > reach ? runtime.begin() + reach : top;
  if (high <= low) return {};
  return {low, high - low};
}

JITCM_DECL placement placement_of(address_region region, address_region preferred) noexcept {
  if (preferred.empty()) return placement::anywhere;
  return preferred.contains(region) ? placement::preferred : placement::fallback;
}

JITCM_DECL std::uintptr_t detail::placement_hint(address_region range, std::size_t bytes, std::size_t step,
                                                 std::size_t alignment, std::size_t attempt) noexcept {
  const std::uintptr_t last = range.end() - bytes;  // the highest start that still fits
  const std::uintptr_t middle = range.begin() + (last - range.begin()) / 2;
  const std::size_t distance = ((attempt + 1) / 2) * step;
  std::uintptr_t hint = 0;
  if (attempt % 2 == 1) {
    if (last - middle < distance) return 0;
    hint = middle + distance;
  } else {
    if (middle - range.begin() < distance) return 0;
    hint = middle - distance;
  }
  hint = (hint + alignment - 1) & ~(std::uintptr_t{alignment} - 1);
  return hint <= last ? hint : 0;
}

}  // namespace jitcm::platform
