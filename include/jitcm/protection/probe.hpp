// Which W^X strategies this process may use, found by trying them.
#pragma once

#include <cstring>
#include <system_error>

#include "dual_mapping.hpp"
#include "mprotect_toggle.hpp"
#include "rwx.hpp"

namespace jitcm::protection {

/// For each strategy, why it cannot be used here; an empty error_code means it
/// can. Hardened kernels and SELinux's deny_execmem refuse RWX pages and may
/// refuse making written anonymous pages executable; noexec mounts and
/// vm.memfd_noexec refuse executable shared memory.
struct availability {
  std::error_code mprotect_toggle;
  std::error_code dual_mapping;
  std::error_code rwx;
};

namespace detail {

/// Reserves one page with S, commits it, writes a byte through a write scope
/// and ends the scope: every step a real allocation takes.
template <class S>
[[nodiscard]] std::error_code try_strategy() noexcept {
  auto space = S::reserve(platform::page_size());
  if (!space) return space.error();
  const address_region page = space->region();
  if (auto ok = space->commit(page); !ok) return ok.error();
  auto scope = space->begin_write(page);
  if (!scope) return scope.error();
  const unsigned char byte = 0xC3;
  std::memcpy(reinterpret_cast<void*>(space->writable(page.begin())), &byte, 1);
  if (auto ok = scope->end(); !ok) return ok.error();
  return {};
}

}  // namespace detail

/// Tries every strategy once (a few system calls each). Thread safety: any
/// thread.
[[nodiscard]] JITCM_DECL availability probe() noexcept;

}  // namespace jitcm::protection

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/probe.ipp"  // IWYU pragma: export
#endif
