// Fault injection: a hook that tests set to refuse any one OS call of the
// platform layer, or any bookkeeping allocation of the layers above, so they
// can check what every operation leaves behind when that call fails.
//
// | expression                              | result            | guarantees |
// |-----------------------------------------|-------------------|------------|
// | `set_fault_hook(h)`                     | `fault_hook`      | `h` (nullptr: none) is asked before every call listed in fault_point, from every thread; returns the previous hook |
// | `h(site)`                               | `std::error_code` | no error: the call goes ahead; an error: the call is not made and fails with that error, exactly as if the OS had returned it |
// | `typical_error(point)`                  | `std::error_code` | the errno the real call returns when it runs out of what it needs (ENOMEM, EMFILE...) |
// | `set_protection_hook(h)`                | `protection_hook` | the older, narrower hook: asked before commit and protect only |
// | `jitcm::detail::side_allocation_refused()` | `bool`         | for bookkeeping allocations outside this layer: true when the hook refuses this one (the caller then acts as if the allocation returned null) |
//
// Cost when no hook is set: one relaxed atomic load per call site.
//
// Thread safety: hooks may be set and unset from any thread, but from one
// thread at a time; a hook runs on whichever thread makes the call and must
// be thread-safe if the calls are made from several threads.
//
// ```cpp
// std::error_code refuse_memfd(const jitcm::platform::fault_site& site) noexcept {
//   if (site.point != jitcm::platform::fault_point::create_shared_memory) return {};
//   return jitcm::platform::typical_error(site.point);  // EMFILE
// }
// auto previous = jitcm::platform::set_fault_hook(refuse_memfd);
// auto space = jitcm::protection::dual_mapping::reserve(1 << 20);  // fails with EMFILE
// jitcm::platform::set_fault_hook(previous);
// ```
#pragma once

#include <atomic>
#include <cerrno>
#include <system_error>

#include "../base/address_region.hpp"
#include "access.hpp"

namespace jitcm::platform {

/// The calls a fault hook is asked about.
enum class fault_point : unsigned {
  reserve,               ///< mapping new inaccessible address space (mmap; VirtualAlloc MEM_RESERVE)
  commit,                ///< making reserved pages usable (mprotect; VirtualAlloc MEM_COMMIT)
  protect,               ///< changing the access of committed pages (mprotect; VirtualProtect)
  decommit,              ///< giving pages' memory back (mmap MAP_FIXED, fallocate punch hole; VirtualFree MEM_DECOMMIT)
  unmap,                 ///< unmapping a reservation (munmap; VirtualFree MEM_RELEASE)
  create_shared_memory,  ///< creating the memory object of a dual mapping (memfd_create, mkostemp)
  resize_shared_memory,  ///< sizing it (ftruncate)
  map_shared_memory,     ///< mapping a view of it (mmap of the descriptor)
  side_allocation,       ///< a bookkeeping allocation on the heap (calloc, new (std::nothrow))
};

/// One call a fault hook is asked about.
struct fault_site {
  fault_point point;
  address_region region;            ///< the addresses concerned; empty when the call has none yet
  access requested = access::none;  ///< the access asked for (commit and protect)
};

/// Returns no error to let the call go ahead, or the error it fails with.
using fault_hook = std::error_code (*)(const fault_site&) noexcept;

/// Called before every commit and protect with the region and the access
/// asked for; an error refuses the change. Kept for tests written before
/// fault_hook; both hooks may be set at once (this one is asked first).
using protection_hook = std::error_code (*)(address_region, access) noexcept;

/// The errno with which the real call fails when a resource runs out: what a
/// hook returns to simulate the failures a JIT meets in production.
[[nodiscard]] constexpr int typical_errno(fault_point point) noexcept {
  switch (point) {
    case fault_point::protect:
      return EACCES;  // SELinux execmem, PaX mprotect
    case fault_point::create_shared_memory:
      return EMFILE;
    case fault_point::resize_shared_memory:
      return ENOSPC;
    default:
      return ENOMEM;
  }
}

[[nodiscard]] inline std::error_code typical_error(fault_point point) noexcept {
  return {typical_errno(point), std::system_category()};
}

namespace detail {

// Call sites load only `active_fault_hook`: null unless some hook is set,
// then the dispatcher below, which asks both.
inline std::atomic<fault_hook> active_fault_hook{nullptr};
inline std::atomic<fault_hook> installed_fault_hook{nullptr};
inline std::atomic<protection_hook> installed_protection_hook{nullptr};

inline std::error_code dispatch_fault(const fault_site& site) noexcept {
  if (site.point == fault_point::commit || site.point == fault_point::protect) {
    if (protection_hook hook = installed_protection_hook.load(std::memory_order_acquire)) {
      if (std::error_code refused = hook(site.region, site.requested)) return refused;
    }
  }
  if (fault_hook hook = installed_fault_hook.load(std::memory_order_acquire)) return hook(site);
  return {};
}

inline void refresh_active_fault_hook() noexcept {
  const bool any = installed_fault_hook.load(std::memory_order_acquire) != nullptr ||
                   installed_protection_hook.load(std::memory_order_acquire) != nullptr;
  active_fault_hook.store(any ? &dispatch_fault : nullptr, std::memory_order_release);
}

/// Asks the installed hooks whether the call about to be made fails; no
/// error when none is set.
[[nodiscard]] inline std::error_code injected_fault(fault_point point, address_region region = {},
                                                    access requested = access::none) noexcept {
  const fault_hook hook = active_fault_hook.load(std::memory_order_relaxed);
  if (hook == nullptr) [[likely]]
    return {};
  return hook(fault_site{point, region, requested});
}

}  // namespace detail

/// Installs `hook` (nullptr removes it) and returns the previous one.
inline fault_hook set_fault_hook(fault_hook hook) noexcept {
  const fault_hook previous = detail::installed_fault_hook.exchange(hook);
  detail::refresh_active_fault_hook();
  return previous;
}

/// Installs `hook` (nullptr removes it) and returns the previous one.
inline protection_hook set_protection_hook(protection_hook hook) noexcept {
  const protection_hook previous = detail::installed_protection_hook.exchange(hook);
  detail::refresh_active_fault_hook();
  return previous;
}

}  // namespace jitcm::platform

namespace jitcm::detail {

/// Asked right before a bookkeeping allocation (calloc, new (std::nothrow))
/// anywhere in jitcm: true when the fault hook refuses it, and the caller
/// then takes the path of a failed allocation (an ENOMEM error, nothing
/// changed).
[[nodiscard]] inline bool side_allocation_refused() noexcept {
  return static_cast<bool>(platform::detail::injected_fault(platform::fault_point::side_allocation));
}

}  // namespace jitcm::detail
