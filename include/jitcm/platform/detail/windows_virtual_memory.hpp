// Windows pieces of virtual_memory.hpp: finding an aligned free range of
// address space, which Windows cannot carve out of a larger reservation.
//
// Thread safety: any thread. Another thread (or library) may take the range
// between the look and the placement; the placement is then retried.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "windows_api.hpp"

#if defined(JITCM_OS_WINDOWS)

namespace jitcm::platform::detail {

/// How often a placement raced away from us is retried before giving up.
inline constexpr int windows_placement_attempts = 16;

/// Calls `place(address)` (which returns the placed base, or nullptr) at an
/// address aligned to `alignment` where `size` bytes were free a moment
/// ago: `hint` first, if given and aligned, then addresses the OS picks.
/// Windows can neither trim nor align a reservation, so a range `alignment`
/// larger is reserved, released, and its aligned part placed at once; a
/// placement that lost the range to another thread is tried again.
/// Returns nullptr with GetLastError() set when every attempt failed.
template <class Place>
[[nodiscard]] void* windows_place_aligned(std::size_t size, std::size_t alignment, std::uintptr_t hint,
                                          Place&& place) noexcept {
  if (hint != 0 && (hint & (alignment - 1)) == 0) {
    if (void* base = place(hint)) return base;
  }
  if (size > std::numeric_limits<std::size_t>::max() - alignment) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return nullptr;
  }
  for (int attempt = 0; attempt < windows_placement_attempts; ++attempt) {
    void* probe = VirtualAlloc(nullptr, size + alignment, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) return nullptr;
    const auto aligned = (reinterpret_cast<std::uintptr_t>(probe) + alignment - 1) & ~(alignment - 1);
    VirtualFree(probe, 0, MEM_RELEASE);
    if (void* base = place(aligned)) return base;
  }
  return nullptr;
}

/// Reserves `size` inaccessible bytes aligned to `alignment` (a power of two,
/// at least the allocation granularity), at `hint` where it is free.
[[nodiscard]] inline void* windows_reserve(std::size_t size, std::size_t alignment, std::uintptr_t hint) noexcept {
  auto reserve_at = [size](std::uintptr_t at) {
    return VirtualAlloc(reinterpret_cast<void*>(at), size, MEM_RESERVE, PAGE_NOACCESS);
  };
  if (hint == 0 || (hint & (alignment - 1)) != 0) {
    // Unaligned or no hint: the OS's own pick is granularity-aligned, which
    // is all most reservations need.
    void* base = VirtualAlloc(nullptr, size, MEM_RESERVE, PAGE_NOACCESS);
    if (base == nullptr || (reinterpret_cast<std::uintptr_t>(base) & (alignment - 1)) == 0) return base;
    VirtualFree(base, 0, MEM_RELEASE);
  }
  return windows_place_aligned(size, alignment, hint, reserve_at);
}

}  // namespace jitcm::platform::detail

#endif  // JITCM_OS_WINDOWS
