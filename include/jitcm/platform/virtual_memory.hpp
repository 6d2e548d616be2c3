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

#if defined(JITCM_OS_WINDOWS)
#include "detail/windows_virtual_memory.hpp"
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace jitcm::platform {

[[nodiscard]] inline std::size_t page_size() noexcept {
#if defined(JITCM_OS_WINDOWS)
  static const std::size_t size = [] {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return static_cast<std::size_t>(info.dwPageSize);
  }();
#else
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
#endif
  return size;
}

/// The granularity reservations start at: the page size, except on Windows.
[[nodiscard]] inline std::size_t allocation_granularity() noexcept {
#if defined(JITCM_OS_WINDOWS)
  static const std::size_t size = [] {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return static_cast<std::size_t>(info.dwAllocationGranularity);
  }();
  return size;
#else
  return page_size();
#endif
}

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

/// Rejects what no OS call should see: empty, unaligned or wrapping regions.
[[nodiscard]] inline result<void> check_page_region(address_region region) noexcept {
  if (region.empty() || region.begin() == 0) return failure{errc::invalid_argument};
  if (!is_page_aligned(region)) return failure{errc::misaligned};
  if (region.end() < region.begin()) return failure{errc::size_overflow};
  return {};
}

#if defined(JITCM_OS_WINDOWS)
[[nodiscard]] inline DWORD native_protection(access a) noexcept {
  switch (a) {
    case access::none:
      return PAGE_NOACCESS;
    case access::read:
      return PAGE_READONLY;
    case access::read_write:
      return PAGE_READWRITE;
    case access::read_execute:
      return PAGE_EXECUTE_READ;
    case access::read_write_execute:
      return PAGE_EXECUTE_READWRITE;
  }
  return PAGE_NOACCESS;
}
[[nodiscard]] inline failure last_error() noexcept {
  return failure{std::error_code{static_cast<int>(GetLastError()), std::system_category()}};
}
#else
[[nodiscard]] inline int native_protection(access a) noexcept {
  int prot = PROT_NONE;
  if (static_cast<unsigned>(a) & 1u) prot |= PROT_READ;
  if (is_writable(a)) prot |= PROT_WRITE;
  if (is_executable(a)) prot |= PROT_EXEC;
  return prot;
}
#endif

/// Applies `a` to pages that are already mapped, unless the fault hook
/// refuses `point` for them.
[[nodiscard]] inline result<void> change_protection(address_region region, access a, fault_point point) noexcept {
  if (std::error_code refused = injected_fault(point, region, a)) return failure{refused};
#if defined(JITCM_OS_WINDOWS)
  DWORD old;
  if (!VirtualProtect(region.pointer(), region.size(), native_protection(a), &old)) return last_error();
#else
  if (::mprotect(region.pointer(), region.size(), native_protection(a)) != 0) return system_failure(errno);
#endif
  return {};
}

/// How a refused reservation is reported: ENOMEM means no room in the
/// address space (or the map count limit), anything else keeps its errno.
[[nodiscard]] inline failure reservation_failure(std::error_code error) noexcept {
  if (error == std::error_code{ENOMEM, std::system_category()}) return failure{errc::address_space_exhausted};
  return failure{error};
}

}  // namespace detail

/// Reserves `bytes` (rounded up to pages) of address space without committing
/// memory: the pages are inaccessible until committed. `alignment` (a power of
/// two; 0 means the page size) aligns the start; `hint` asks for an address
/// and is ignored when the OS cannot honour it.
/// Errors: invalid_argument (zero size), misaligned (alignment not a power of
/// two), size_overflow, address_space_exhausted (the OS has no room: ENOMEM),
/// the OS error otherwise; nothing is reserved on error.
[[nodiscard]] inline result<address_region> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                                    std::size_t alignment = 0) noexcept {
  if (bytes == 0) return failure{errc::invalid_argument};
  const std::size_t granularity = allocation_granularity();
  if (alignment == 0) alignment = granularity;
  if (!is_power_of_two(alignment)) return failure{errc::misaligned};
  if (alignment < granularity) alignment = granularity;
  const auto size = round_up(bytes, granularity);
  if (!size) return forward_error(size);
  // Over-reserve by the alignment and trim, so any alignment is honoured.
  const std::size_t slack = alignment - granularity;
  if (*size > std::numeric_limits<std::size_t>::max() - slack) return failure{errc::size_overflow};
  const std::size_t padded = *size + slack;
  if (std::error_code refused = detail::injected_fault(fault_point::reserve, {hint, padded})) {
    return detail::reservation_failure(refused);
  }
#if defined(JITCM_OS_WINDOWS)
  // Windows can neither trim nor align a reservation: see windows_reserve.
  void* base = detail::windows_reserve(*size, alignment, hint);
  if (base == nullptr) return failure{errc::address_space_exhausted};
  return address_region{reinterpret_cast<std::uintptr_t>(base), *size};
#else
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void* base = ::mmap(reinterpret_cast<void*>(hint), padded, PROT_NONE, flags, -1, 0);
  if (base == MAP_FAILED) return detail::reservation_failure({errno, std::system_category()});
  const auto start = reinterpret_cast<std::uintptr_t>(base);
  const auto aligned = (start + alignment - 1) & ~(alignment - 1);
  if (aligned > start) ::munmap(base, aligned - start);
  const std::uintptr_t tail = aligned + *size;
  if (start + padded > tail) ::munmap(reinterpret_cast<void*>(tail), start + padded - tail);
  return address_region{aligned, *size};
#endif
}

/// Makes reserved pages usable with access `a`; their contents read as zero
/// the first time. On error the pages stay reserved and inaccessible.
[[nodiscard]] inline result<void> commit(address_region region, access a) noexcept {
  if (auto ok = detail::check_page_region(region); !ok) return ok;
#if defined(JITCM_OS_WINDOWS)
  if (std::error_code refused = detail::injected_fault(fault_point::commit, region, a)) return failure{refused};
  if (!VirtualAlloc(region.pointer(), region.size(), MEM_COMMIT, detail::native_protection(a))) {
    return detail::last_error();
  }
  return {};
#else
  // Reserved pages are PROT_NONE mappings with MAP_NORESERVE: granting access
  // is all a commit needs; the kernel backs a page when it is first touched.
  return detail::change_protection(region, a, fault_point::commit);
#endif
}

/// Returns the pages' memory to the OS and makes them inaccessible again; the
/// address range stays reserved. On error the pages keep their access and
/// contents.
[[nodiscard]] inline result<void> decommit(address_region region) noexcept {
  if (auto ok = detail::check_page_region(region); !ok) return ok;
  if (std::error_code refused = detail::injected_fault(fault_point::decommit, region)) return failure{refused};
#if defined(JITCM_OS_WINDOWS)
  if (!VirtualFree(region.pointer(), region.size(), MEM_DECOMMIT)) return detail::last_error();
#else
  // A fresh PROT_NONE mapping over the range frees its pages at once and
  // keeps the range reserved, in one call.
  void* p = ::mmap(region.pointer(), region.size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                   -1, 0);
  if (p == MAP_FAILED) return system_failure(errno);
#endif
  return {};
}

/// Changes the access of committed pages.
[[nodiscard]] inline result<void> protect(address_region region, access a) noexcept {
  if (auto ok = detail::check_page_region(region); !ok) return ok;
  return detail::change_protection(region, a, fault_point::protect);
}

/// Gives the whole reservation back to the OS. On error it stays mapped as
/// it was.
[[nodiscard]] inline result<void> unmap(address_region region) noexcept {
  if (auto ok = detail::check_page_region(region); !ok) return ok;
  if (std::error_code refused = detail::injected_fault(fault_point::unmap, region)) return failure{refused};
#if defined(JITCM_OS_WINDOWS)
  if (!VirtualFree(region.pointer(), 0, MEM_RELEASE)) return detail::last_error();
#else
  if (::munmap(region.pointer(), region.size()) != 0) return system_failure(errno);
#endif
  return {};
}

}  // namespace jitcm::platform
