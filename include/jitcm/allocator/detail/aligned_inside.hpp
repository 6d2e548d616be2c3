// The aligned part of a free region: what every free-space policy may hand out of it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../base/address_region.hpp"

namespace jitcm::allocator::detail {

/// The largest part of `within` that starts and ends aligned.
[[nodiscard]] inline address_region aligned_inside(address_region within, std::size_t alignment) noexcept {
  const std::uintptr_t mask = alignment - 1;
  const std::uintptr_t end = within.end() < within.begin() ? UINTPTR_MAX : within.end();
  if (within.begin() > UINTPTR_MAX - mask) return {};
  const std::uintptr_t begin = (within.begin() + mask) & ~mask;
  const std::uintptr_t aligned_end = end & ~mask;
  return aligned_end > begin ? address_region{begin, aligned_end - begin} : address_region{};
}

}  // namespace jitcm::allocator::detail
