// Definitions of <jitcm/base/error.hpp> (see allocator/impl/tlsf.ipp): the
// category object, its vtable and the messages, which only error reports
// reach.
#pragma once

#include <string>
#include <system_error>

#include "../error.hpp"

namespace jitcm {

namespace detail {

JITCM_DECL std::string error_category_impl::message(int value) const {
  switch (static_cast<errc>(value)) {
    case errc::invalid_argument:
      return "invalid argument";
    case errc::size_overflow:
      return "size overflows";
    case errc::misaligned:
      return "address or size is misaligned";
    case errc::out_of_range:
      return "address or index out of range";
    case errc::overlapping_region:
      return "region overlaps an existing region";
    case errc::not_owned:
      return "not owned by this object";
    case errc::double_free:
      return "already freed";
    case errc::already_unmapped:
      return "reservation already unmapped";
    case errc::already_published:
      return "code already published";
    case errc::out_of_memory:
      return "out of code memory";
    case errc::address_space_exhausted:
      return "address space exhausted";
    case errc::limit_exceeded:
      return "configured limit exceeded";
    case errc::target_out_of_range:
      return "branch target out of range";
    case errc::unsupported:
      return "not supported";
    case errc::busy:
      return "still in use";
    case errc::scope_required:
      return "no ref-counting scope open on this thread to hold the code";
    case errc::not_committed:
      return "pages not committed as code";
    case errc::space_unusable:
      return "code space unusable: pages could not be made executable again";
  }
  return "unknown jitcm error";
}

}  // namespace detail

JITCM_DECL const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

}  // namespace jitcm
