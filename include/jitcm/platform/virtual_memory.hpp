// Address space and page protection: the only place jitcm asks the OS for
// memory. Linux and Windows (VirtualAlloc, VirtualProtect, VirtualFree;
// tested under Wine) run; macOS is written behind #if.
//
// Thread safety: every function may be called from any thread; calls on
// overlapping regions race as the underlying system calls do.
//
// On error every function leaves the pages as they were (the OS changes
// nothing when it refuses), unless its comment says otherwise. Refused calls
// report the OS's errno in std::system_category(); fault_injection.hpp's hook
// is asked before each of them.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <system_error>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../base/result.hpp"
#include "access.hpp"
#include "fault_injection.hpp"

namespace jitcm::platform {

[[nodiscard]] JITCM_DECL std::size_t page_size() noexcept;

/// The granularity reservations start at: the page size, except on Windows.
[[nodiscard]] JITCM_DECL std::size_t allocation_granularity() noexcept;

[[nodiscard]] constexpr bool is_power_of_two(std::size_t value) noexcept {
  return value != 0 && (value & (value - 1)) == 0;
}

/// `value` rounded up to a multiple of `alignment` (a power of two), or
/// errc::size_overflow when that does not fit in std::size_t.
[[nodiscard]] inline result<std::size_t> round_up(std::size_t value, std::size_t alignment) noexcept {
  if (value > std::numeric_limits<std::size_t>::max() - (alignment - 1)) return failure{errc::size_overflow};
  return (value + alignment - 1) & ~(alignment - 1);
}

[[nodiscard]] inline bool is_page_aligned(address_region region) noexcept {
  const std::size_t mask = page_size() - 1;
  return (region.begin() & mask) == 0 && (region.size() & mask) == 0;
}

namespace detail {

/// How a refused reservation is reported: ENOMEM means no room in the
/// address space (or the map count limit), anything else keeps its errno.
[[nodiscard]] JITCM_DECL failure reservation_failure(std::error_code error) noexcept;

}  // namespace detail

/// Reserves `bytes` (rounded up to pages) of address space without committing
/// memory: the pages are inaccessible until committed. `alignment` (a power of
/// two; 0 means the page size) aligns the start; `hint` asks for an address
/// and is ignored when the OS cannot honour it.
/// Errors: invalid_argument (zero size), misaligned (alignment not a power of
/// two), size_overflow, address_space_exhausted (the OS has no room: ENOMEM),
/// the OS error otherwise; nothing is reserved on error.
[[nodiscard]] JITCM_DECL result<address_region> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                                        std::size_t alignment = 0) noexcept;

/// Makes reserved pages usable with access `a`; their contents read as zero
/// the first time. On error the pages stay reserved and inaccessible.
[[nodiscard]] JITCM_DECL result<void> commit(address_region region, access a) noexcept;

/// Returns the pages' memory to the OS and makes them inaccessible again; the
/// address range stays reserved. On error the pages keep their access and
/// contents.
[[nodiscard]] JITCM_DECL result<void> decommit(address_region region) noexcept;

/// Changes the access of committed pages.
[[nodiscard]] JITCM_DECL result<void> protect(address_region region, access a) noexcept;

/// Gives the whole reservation back to the OS. On error it stays mapped as
/// it was.
[[nodiscard]] JITCM_DECL result<void> unmap(address_region region) noexcept;

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/virtual_memory.ipp"  // IWYU pragma: export
#endif
