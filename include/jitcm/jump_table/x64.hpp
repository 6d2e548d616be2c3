// The x86-64 jump-table emitter.
#pragma once

#include "detail/machine_code_emitter.hpp"
#include "detail/x64_encoding.hpp"

namespace jitcm::jump_table {

/// x86-64 slots (see detail/x64_encoding.hpp for the bytes):
///   near  `jmp rel32` in an aligned 8-byte word (±2 GiB), replaced by one atomic store
///   far   `jmp *cell(%rip)`, the 8-byte cell in the data area (±2 GiB from the slot)
///   lazy  `mov $index, %r10d; jmp *entry(%rip)`
/// With LandingPads every slot an indirect branch can reach starts with
/// `endbr64`.
///
/// Lazy-compile entry ABI: entered by a jump (the caller's return address is
/// on the stack, argument registers as the caller set them), with the
/// function index zero-extended in r10 (and, from a context entry, the
/// module's callback in r11). r10 and r11 are scratch in both the System V
/// and the Windows x64 conventions, so the slots are the same bytes on
/// Linux and Windows; lazy_trampoline.hpp provides an entry that calls a
/// C++ handler for each (on Windows it keeps rcx, rdx, r8, r9 and
/// xmm0-xmm5 and gives the handler its 32-byte shadow space).
template <bool LandingPads>
struct basic_x64 : detail::machine_code_emitter<detail::x64_encoding<LandingPads>> {};

/// Landing pads when the build enables CET indirect-branch tracking (-fcf-protection).
#if defined(__CET__) && (__CET__ & 1)
inline constexpr bool x64_landing_pads = true;
#else
inline constexpr bool x64_landing_pads = false;
#endif

using x64 = basic_x64<x64_landing_pads>;

}  // namespace jitcm::jump_table
