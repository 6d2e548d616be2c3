// Definitions of <jitcm/platform/reservation.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../reservation.hpp"

namespace jitcm::platform {

JITCM_DECL result<reservation> reservation::reserve(std::size_t bytes, std::uintptr_t hint,
                                                    std::size_t alignment) noexcept {
  auto region = platform::reserve(bytes, hint, alignment);
  if (!region) return forward_error(region);
  return reservation{*region};
}

JITCM_DECL result<void> reservation::commit(address_region part, access a) const noexcept {
  if (auto ok = check(part); !ok) return ok;
  return platform::commit(part, a);
}

JITCM_DECL result<void> reservation::decommit(address_region part) const noexcept {
  if (auto ok = check(part); !ok) return ok;
  return platform::decommit(part);
}

JITCM_DECL result<void> reservation::protect(address_region part, access a) const noexcept {
  if (auto ok = check(part); !ok) return ok;
  return platform::protect(part, a);
}

JITCM_DECL result<void> reservation::unmap() noexcept {
  if (region_.empty()) return failure{errc::already_unmapped};
  auto released = platform::unmap(region_);
  if (released) region_ = {};
  return released;
}

JITCM_DECL void reservation::unmap_or_forget() noexcept {
  if (region_.empty() || unmap()) return;
  (void)platform::decommit(region_);
  region_ = {};
}

JITCM_DECL result<void> reservation::check(address_region part) const noexcept {
  if (region_.empty()) return failure{errc::already_unmapped};
  if (part.empty()) return failure{errc::invalid_argument};
  if (!is_page_aligned(part)) return failure{errc::misaligned};
  if (!region_.contains(part)) return failure{errc::out_of_range};
  return {};
}

}  // namespace jitcm::platform
