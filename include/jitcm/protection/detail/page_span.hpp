// Rounding byte ranges out to the pages that hold them.
#pragma once

#include "../../base/address_region.hpp"
#include "../../platform/virtual_memory.hpp"

namespace jitcm::protection::detail {

/// The smallest page-aligned region holding every byte of `bytes`.
[[nodiscard]] inline address_region pages_holding(address_region bytes) noexcept {
  const std::uintptr_t mask = platform::page_size() - 1;
  const std::uintptr_t begin = bytes.begin() & ~mask;
  const std::uintptr_t end = (bytes.end() + mask) & ~mask;
  return {begin, end - begin};
}

/// errc::out_of_range unless `part` is a non-empty region inside `space`.
[[nodiscard]] inline result<void> check_inside(address_region space, address_region part) noexcept {
  if (part.empty()) return failure{errc::invalid_argument};
  if (!space.contains(part)) return failure{errc::out_of_range};
  return {};
}

}  // namespace jitcm::protection::detail
