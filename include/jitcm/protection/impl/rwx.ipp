// Definitions of <jitcm/protection/rwx.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <utility>

#include "../rwx.hpp"

namespace jitcm::protection {

JITCM_DECL result<rwx::write_scope> rwx::space::begin_write(address_region part) const noexcept {
  if (auto ok = detail::check_inside(region(), part); !ok) return forward_error(ok);
  return write_scope{part};
}

JITCM_DECL result<rwx::space> rwx::reserve(std::size_t bytes, std::uintptr_t hint, std::size_t alignment) noexcept {
  auto memory = platform::reservation::reserve(bytes, hint, alignment);
  if (!memory) return forward_error(memory);
  return space{std::move(*memory)};
}

}  // namespace jitcm::protection
