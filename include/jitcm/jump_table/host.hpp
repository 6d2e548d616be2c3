// The jump-table emitter for the CPU this is compiled for.
#pragma once

#include "../base/config.hpp"
#include "arm64.hpp"
#include "concept.hpp"
#include "portable.hpp"
#include "riscv64.hpp"
#include "x64.hpp"

namespace jitcm::jump_table {

/// x64, arm64 or riscv64 for the host CPU; portable on any other.
#if defined(JITCM_ARCH_X64)
using host = x64;
#elif defined(JITCM_ARCH_ARM64)
using host = arm64;
#elif defined(JITCM_ARCH_RISCV64)
using host = riscv64;
#else
using host = portable;
#endif

// That each emitter satisfies jump_table_emitter is checked in
// tests/jump_table/test_encoding.cpp, not here: a check in a header would
// instantiate all four in every TU.

}  // namespace jitcm::jump_table
