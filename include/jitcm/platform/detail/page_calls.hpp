// The steps every page call of virtual_memory.hpp's definitions goes
// through (argument checks, the fault hook, the OS's protection flags and
// errors), shared with the Windows dual mapping. Only .ipp files and
// OS-specific headers include it, so that the OS headers stay out of TUs
// built with JITCM_SEPARATE_COMPILATION.
#pragma once

#include <cerrno>
#include <system_error>

#include "../../base/address_region.hpp"
#include "../../base/result.hpp"
#include "../access.hpp"
#include "../fault_injection.hpp"
#include "../virtual_memory.hpp"

#if defined(JITCM_OS_WINDOWS)
#include "windows_api.hpp"
#else
#include <sys/mman.h>
#endif

namespace jitcm::platform::detail {

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

}  // namespace jitcm::platform::detail
