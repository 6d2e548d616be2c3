// The AArch64 jump-table emitter.
#pragma once

#include "detail/arm64_encoding.hpp"
#include "detail/machine_code_emitter.hpp"

namespace jitcm::jump_table {

/// AArch64 slots (see detail/arm64_encoding.hpp for the words):
///   near  `b target` (±128 MiB), replaced by one atomic 4-byte store
///   far   `ldr x16, cell; br x16`, the cell in the data area
///   lazy  `movz/movk w17, #index; ldr x16, entry; br x16`
/// With LandingPads the near and lazy slots start with `bti c`.
///
/// Constraint: the literal loads reach ±1 MiB, so the data area must lie
/// within 1 MiB of every far and lazy slot: put it right after the code
/// area. initialize reports errc::target_out_of_range otherwise. With the
/// data area on the page after the code area, one table holds up to about
/// 37 000 functions (28-byte slot groups), or 26 000 with BTI (40 bytes).
///
/// Lazy-compile entry ABI: entered by `br x16` (x30 holds the caller's
/// return address, argument registers x0-x7, x8 and v0-v7 as the caller set
/// them), with the function index in w17 and x16 the entry's own address.
/// With BTI the entry must start with `bti c` (or `bti jc`).
template <bool LandingPads>
struct basic_arm64 : detail::machine_code_emitter<detail::arm64_encoding<LandingPads>> {};

/// Landing pads when the build enables branch target identification (-mbranch-protection=bti).
#if defined(__ARM_FEATURE_BTI_DEFAULT)
inline constexpr bool arm64_landing_pads = true;
#else
inline constexpr bool arm64_landing_pads = false;
#endif

using arm64 = basic_arm64<arm64_landing_pads>;

}  // namespace jitcm::jump_table
