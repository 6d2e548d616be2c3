// jitcm's own error codes, usable as std::error_code.
#pragma once

#include <string>
#include <system_error>

#include "config.hpp"

namespace jitcm {

/// Why a jitcm operation failed. Failures that come straight from the OS are
/// reported with std::system_category() and the OS's errno instead, so that
/// ENOMEM, EACCES, EPERM and EMFILE stay recognisable; so is a bookkeeping
/// allocation that fails (ENOMEM). `unsupported` means the platform lacks a
/// feature, never that a resource ran out.
enum class errc {
  invalid_argument = 1,     ///< a null, zero or otherwise meaningless argument
  size_overflow,            ///< a size so large that rounding or adding to it overflows
  misaligned,               ///< an address or size not aligned as the call requires
  out_of_range,             ///< an address or index outside what the object manages
  overlapping_region,       ///< a region overlaps one that is already there
  not_owned,                ///< the address or block belongs to someone else
  double_free,              ///< the block or region was already given back
  already_unmapped,         ///< the reservation was already unmapped
  already_published,        ///< the code block was already published
  out_of_memory,            ///< no free space large enough in what is reserved
  address_space_exhausted,  ///< the OS refused to reserve more address space
  limit_exceeded,           ///< a configured maximum (code space, committed bytes) would be passed
  target_out_of_range,      ///< a branch target is beyond the instruction's reach
  unsupported,              ///< this platform or strategy cannot do what was asked
  busy,                     ///< the object is in use (a scope or thread still holds it)
  scope_required,           ///< code can be handed out only held, and the thread has no scope open
  not_committed,            ///< the pages are reserved but not committed as code (or are data pages)
  space_unusable,  ///< a code space whose pages could not be made executable again takes no code until they are
};

namespace detail {

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jitcm"; }
  JITCM_DECL std::string message(int value) const override;
};

}  // namespace detail

JITCM_DECL const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace jitcm

template <>
struct std::is_error_code_enum<jitcm::errc> : std::true_type {};

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/error.ipp"  // IWYU pragma: export
#endif
