// Definitions of <jitcm/platform/virtual_memory.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <cerrno>
#include <limits>

#include "../detail/page_calls.hpp"
#include "../virtual_memory.hpp"

#if defined(JITCM_OS_WINDOWS)
#include "../detail/windows_virtual_memory.hpp"
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace jitcm::platform {

JITCM_DECL std::size_t page_size() noexcept {
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

JITCM_DECL std::size_t allocation_granularity() noexcept {
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

JITCM_DECL failure detail::reservation_failure(std::error_code error) noexcept {
  if (error == std::error_code{ENOMEM, std::system_category()}) return failure{errc::address_space_exhausted};
  return failure{error};
}

JITCM_DECL result<address_region> reserve(std::size_t bytes, std::uintptr_t hint, std::size_t alignment) noexcept {
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

JITCM_DECL result<void> commit(address_region region, access a) noexcept {
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

JITCM_DECL result<void> decommit(address_region region) noexcept {
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

JITCM_DECL result<void> protect(address_region region, access a) noexcept {
  if (auto ok = detail::check_page_region(region); !ok) return ok;
  return detail::change_protection(region, a, fault_point::protect);
}

JITCM_DECL result<void> unmap(address_region region) noexcept {
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
