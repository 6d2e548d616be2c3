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

static_assert(jump_table_emitter<x64>, "jitcm: jump_table::x64 must satisfy jump_table_emitter");
static_assert(jump_table_emitter<arm64>, "jitcm: jump_table::arm64 must satisfy jump_table_emitter");
static_assert(jump_table_emitter<riscv64>, "jitcm: jump_table::riscv64 must satisfy jump_table_emitter");
static_assert(jump_table_emitter<portable>, "jitcm: jump_table::portable must satisfy jump_table_emitter");

}  // namespace jitcm::jump_table
