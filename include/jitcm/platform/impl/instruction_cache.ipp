// Definitions of <jitcm/platform/instruction_cache.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "../instruction_cache.hpp"

#if defined(JITCM_OS_LINUX)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
// Valgrind translates code once and runs the translation; it is told about
// rewritten code the way LLVM's sys::Memory does, when its header is there.
// The request is a few no-op instructions outside Valgrind.
#if __has_include(<valgrind/valgrind.h>) && !defined(JITCM_NO_VALGRIND)
#include <valgrind/valgrind.h>
#define JITCM_HAS_VALGRIND 1
#endif
#elif defined(JITCM_OS_MACOS)
#include <libkern/OSCacheControl.h>
#elif defined(JITCM_OS_WINDOWS)
#include "../detail/windows_api.hpp"
#endif

namespace jitcm::platform {

namespace detail {

/// Calls `line_operation(address)` once for every `line`-byte line (a power
/// of two) that [begin, begin + size) touches, starting at the line holding
/// `begin`: an unaligned start or end still covers its partial lines.
template <class LineOperation>
inline void for_each_cache_line(std::uintptr_t begin, std::size_t size, std::size_t line,
                                LineOperation line_operation) noexcept {
  const std::uintptr_t end = begin + size;
  for (std::uintptr_t address = begin & ~(std::uintptr_t{line} - 1); address < end; address += line) {
    line_operation(address);
  }
}

#if defined(JITCM_ARCH_ARM64) && !defined(JITCM_OS_MACOS) && !defined(JITCM_OS_WINDOWS)
/// What CTR_EL0 says about the caches between stores and instruction fetch.
struct cache_type {
  std::size_t data_line = 0;            ///< DminLine: the smallest data-cache line of any level
  std::size_t instruction_line = 0;     ///< IminLine: the smallest instruction-cache line
  bool clean_to_unify = true;           ///< !IDC: stores must be cleaned to the point of unification
  bool invalidate_instructions = true;  ///< !DIC: instruction lines must be invalidated
};

/// Reads CTR_EL0 now. Never cache the answer: on big.LITTLE chips the cores
/// disagree, a thread may move between them, and Linux answers the (trapped)
/// read with the smallest lines of any core; a value kept from the first call
/// may be a big core's longer line, which skips lines on a little core
/// (llvm#70791, mono#3549: libgcc's __clear_cache kept it in a static).
[[nodiscard]] inline cache_type read_cache_type() noexcept {
  std::uint64_t ctr = 0;
  asm volatile("mrs %0, ctr_el0" : "=r"(ctr));
  cache_type type;
  type.data_line = std::size_t{4} << ((ctr >> 16) & 0xf);
  type.instruction_line = std::size_t{4} << (ctr & 0xf);
  type.clean_to_unify = ((ctr >> 28) & 1) == 0;
  type.invalidate_instructions = ((ctr >> 29) & 1) == 0;
  return type;
}

/// The architecture's sequence for code written by this core (ARM ARM
/// B2.2.5): clean the data lines to the point of unification, wait, invalidate
/// the instruction lines, wait, then discard what this core already fetched.
/// Other cores still need synchronize_instruction_streams() before they run
/// patched code they may have fetched.
inline void flush_arm64(std::uintptr_t begin, std::size_t size) noexcept {
  const cache_type type = read_cache_type();
  if (type.clean_to_unify) {
    for_each_cache_line(begin, size, type.data_line, [](std::uintptr_t line) {
      asm volatile("dc cvau, %0" : : "r"(line) : "memory");
    });
  }
  asm volatile("dsb ish" : : : "memory");
  if (type.invalidate_instructions) {
    for_each_cache_line(begin, size, type.instruction_line, [](std::uintptr_t line) {
      asm volatile("ic ivau, %0" : : "r"(line) : "memory");
    });
    asm volatile("dsb ish" : : : "memory");
  }
  asm volatile("isb" : : : "memory");
}
#endif

#if defined(JITCM_ARCH_RISCV64) && defined(JITCM_OS_LINUX)
/// fence.i orders this hart's fetches after its stores, but the thread may
/// be moved to another hart right after it; the kernel's riscv_flush_icache
/// (flags 0: every hart) makes every hart, and this thread wherever it runs
/// next, fetch the new bytes.
inline void flush_riscv64(std::uintptr_t begin, std::size_t size) noexcept {
  asm volatile("fence.i" : : : "memory");
#if defined(__NR_riscv_flush_icache)
  (void)::syscall(__NR_riscv_flush_icache, begin, begin + size, 0UL);
#else
  __builtin___clear_cache(reinterpret_cast<char*>(begin), reinterpret_cast<char*>(begin + size));
#endif
}
#endif

}  // namespace detail

JITCM_DECL void flush_instruction_cache(std::uintptr_t begin, std::size_t size) noexcept {
  if (size == 0) return;
#if defined(JITCM_HAS_VALGRIND)
  VALGRIND_DISCARD_TRANSLATIONS(begin, size);
#endif
#if defined(JITCM_ARCH_X64)
  (void)begin;
#elif defined(JITCM_OS_MACOS)
  sys_icache_invalidate(reinterpret_cast<void*>(begin), size);
#elif defined(JITCM_OS_WINDOWS)
  FlushInstructionCache(GetCurrentProcess(), reinterpret_cast<void*>(begin), size);
#elif defined(JITCM_ARCH_ARM64)
  detail::flush_arm64(begin, size);
#elif defined(JITCM_ARCH_RISCV64) && defined(JITCM_OS_LINUX)
  detail::flush_riscv64(begin, size);
#else
  __builtin___clear_cache(reinterpret_cast<char*>(begin), reinterpret_cast<char*>(begin + size));
#endif
}

namespace detail {

#if defined(JITCM_OS_LINUX)
[[nodiscard]] inline long membarrier(int command) noexcept { return ::syscall(__NR_membarrier, command, 0, 0); }

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

JITCM_DECL result<void> synchronize_instruction_streams() noexcept {
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
