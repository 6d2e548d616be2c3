// Making freshly written or patched instructions visible to the CPUs that
// will run them.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../result.hpp"

#if defined(JITCM_OS_LINUX)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(JITCM_OS_MACOS)
#include <libkern/OSCacheControl.h>
#elif defined(JITCM_OS_WINDOWS)
#include "detail/windows_api.hpp"
#endif

namespace jitcm::platform {

/// Makes the instruction fetch of this and every other core see the bytes
/// written at [begin, begin + size): a no-op on x86-64, whose caches are
/// coherent with instruction fetch; a data-cache clean and instruction-cache
/// invalidate by line on AArch64; the kernel's icache flush on RISC-V.
inline void flush_instruction_cache(std::uintptr_t begin, std::size_t size) noexcept {
  if (size == 0) return;
#if defined(JITCM_ARCH_X64)
  (void)begin;
#elif defined(JITCM_OS_MACOS)
  sys_icache_invalidate(reinterpret_cast<void*>(begin), size);
#elif defined(JITCM_OS_WINDOWS)
  FlushInstructionCache(GetCurrentProcess(), reinterpret_cast<void*>(begin), size);
#else
  __builtin___clear_cache(reinterpret_cast<char*>(begin), reinterpret_cast<char*>(begin + size));
#endif
}

namespace detail {

#if defined(JITCM_OS_LINUX)
[[nodiscard]] inline long membarrier(int command) noexcept {
  return ::syscall(__NR_membarrier, command, 0, 0);
}

enum class sync_method { sync_core, expedited, none };

/// Registers once for the strongest barrier this kernel offers.
[[nodiscard]] inline sync_method registered_sync_method() noexcept {
  static const sync_method method = [] {
    const long supported = membarrier(MEMBARRIER_CMD_QUERY);
    if (supported < 0) return sync_method::none;
#if defined(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)
    if ((supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0 &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) == 0) {
      return sync_method::sync_core;
    }
#endif
    if ((supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
      return sync_method::expedited;
    }
    return sync_method::none;
  }();
  return method;
}
#endif

}  // namespace detail

/// Forces every thread of this process through a context-synchronising event,
/// so that none keeps executing instructions it fetched before code was
/// patched. Needed after cross-modifying code on AArch64 and RISC-V (their
/// architectures require the executing core to synchronise); harmless
/// elsewhere. Uses membarrier's SYNC_CORE command, or its expedited barrier
/// (an IPI to every running thread, which also serialises them) where
/// SYNC_CORE is missing. Errors: unsupported when the kernel has neither.
/// Thread safety: any thread.
[[nodiscard]] inline result<void> synchronize_instruction_streams() noexcept {
#if defined(JITCM_OS_LINUX)
  using detail::sync_method;
  switch (detail::registered_sync_method()) {
#if defined(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)
    case sync_method::sync_core:
      if (detail::membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0) return system_failure(errno);
      return {};
#endif
    case sync_method::expedited:
      if (detail::membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) return system_failure(errno);
      return {};
    default:
      return failure{errc::unsupported};
  }
#elif defined(JITCM_OS_WINDOWS)
  FlushProcessWriteBuffers();
  return {};
#else
  // Darwin's sys_icache_invalidate already broadcasts to all cores.
  return {};
#endif
}

}  // namespace jitcm::platform
