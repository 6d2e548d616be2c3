// Build-time facts about the host that every layer branches on.
#pragma once

#include <cstddef>

#if defined(__x86_64__) || defined(_M_X64)
#define JITCM_ARCH_X64 1
#elif defined(__aarch64__) || defined(_M_ARM64)
#define JITCM_ARCH_ARM64 1
#elif defined(__riscv) && __riscv_xlen == 64
#define JITCM_ARCH_RISCV64 1
#endif

#if defined(__linux__)
#define JITCM_OS_LINUX 1
#elif defined(__APPLE__)
#define JITCM_OS_MACOS 1
#elif defined(_WIN32)
#define JITCM_OS_WINDOWS 1
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define JITCM_HAS_EXCEPTIONS 1
#endif

// Separate compilation (README, "Compile time"): with
// JITCM_SEPARATE_COMPILATION defined in every TU, the headers only declare
// jitcm's non-template functions and one TU of the program includes
// <jitcm/separate_compilation.hpp>, which defines them. Without it (the
// default) every definition is in the headers and `inline`. A function
// defined out of class in an impl/*.ipp file is written `JITCM_DECL`; a
// virtual one is also declared `JITCM_DECL` in its class, so that
// header-only a class has no key function (a non-inline virtual would make
// every TU emit its vtable and every virtual body).
#if defined(JITCM_SEPARATE_COMPILATION)
#define JITCM_DECL
#else
#define JITCM_DECL inline
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#define JITCM_NO_UNIQUE_ADDRESS [[msvc::no_unique_address]]
#else
#define JITCM_NO_UNIQUE_ADDRESS [[no_unique_address]]
#endif

namespace jitcm {

/// Alignment of every code block unless an allocator is told otherwise:
/// a cache line on x86-64 (so hot loops start on a fetch boundary, as V8
/// does), 32 bytes elsewhere.
inline constexpr std::size_t default_code_alignment =
#if defined(JITCM_ARCH_X64)
    64;
#else
    32;
#endif

}  // namespace jitcm

// On Windows every jitcm header sees <windows.h> without its min, max, near
// and far macros, in whichever order a program includes it and jitcm (Xbyak,
// for one, includes it first).
#include "../platform/detail/windows_api.hpp"
