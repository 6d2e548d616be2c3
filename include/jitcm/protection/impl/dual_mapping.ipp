// Definitions of <jitcm/protection/dual_mapping.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <utility>

#include "../dual_mapping.hpp"

#if defined(JITCM_HAS_DUAL_MAPPING)

namespace jitcm::protection {

JITCM_DECL result<dual_mapping::write_scope> dual_mapping::space::begin_write(address_region part) const noexcept {
  if (auto ok = detail::check_inside(region(), part); !ok) return forward_error(ok);
  return write_scope{part};
}

JITCM_DECL result<dual_mapping::space> dual_mapping::reserve(std::size_t bytes, std::uintptr_t hint,
                                                             std::size_t alignment) noexcept {
  auto memory = platform::dual_mapped_reservation::reserve(bytes, hint, alignment);
  if (!memory) return forward_error(memory);
  return space{std::move(*memory)};
}

}  // namespace jitcm::protection

#endif  // JITCM_HAS_DUAL_MAPPING
