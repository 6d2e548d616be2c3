// observe::eh_frame: unwind info for JIT code in the `.eh_frame` format the
// C++ runtime's unwinder (libgcc, LLVM libunwind), gdb and perf read.
//
// | expression                         | result                       | guarantees |
// |------------------------------------|------------------------------|------------|
// | `eh_frame::build(arch, frame)`     | `result<vector<byte>>`       | one CIE and one FDE covering [0, frame.code_size), FDE locations relative to the code's start (code_desc::unwind_info's convention) |
// | `eh_frame::standard_frame(arch, size, teardown)` | `frame`          | the offsets of the frame-pointer prologue `standard_prologue(arch)` lists |
// | `eh_frame::leaf(size)`             | `frame`                      | a function that keeps its return address where the call left it |
// | `eh_frame::parse(entries)`         | `result<vector<fde>>`        | every FDE's location, range and where its location is stored; errors for malformed entries |
// | `eh_frame::rebase(entries, base)`  | `result<vector<byte>>`       | a copy whose FDE locations are absolute (base added), ending with the zero terminator a section needs |
//
// The frame shapes:
//   frame_pointer — x86-64 `push rbp; mov rbp, rsp` ... `pop rbp; ret`;
//                   AArch64 `stp x29, x30, [sp, #-16]!; mov x29, sp` ...
//                   `ldp x29, x30, [sp], #16; ret`;
//                   RISC-V 64 `addi sp, sp, -16; sd ra, 8(sp); sd s0, 0(sp);
//                   addi s0, sp, 16` ... `ld ra, 8(sp); ld s0, 0(sp);
//                   addi sp, sp, 16; ret`.
//                   Between the frame-pointer setup and the teardown the
//                   frame is found through the frame pointer, so the body may
//                   push and call freely.
//   leaf          — no frame: the return address stays where the call put it
//                   (on the stack on x86-64, in the link register elsewhere).
//
//   auto unwind = jitcm::observe::eh_frame::build(
//       jitcm::observe::eh_frame::host, jitcm::observe::eh_frame::standard_frame(
//           jitcm::observe::eh_frame::host, code_size, teardown_offset));
//   module.publish(room, {.index = 0, .name = "f", .unwind_info = *unwind});
//
// Everything here is pure computation: thread-safe, no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../base/config.hpp"
#include "../base/error.hpp"
#include "../base/result.hpp"

namespace jitcm::observe::eh_frame {

/// The instruction sets a frame can be described for.
enum class architecture : std::uint8_t { x64, arm64, riscv64 };

inline constexpr architecture host =
#if defined(JITCM_ARCH_ARM64)
    architecture::arm64;
#elif defined(JITCM_ARCH_RISCV64)
    architecture::riscv64;
#else
    architecture::x64;
#endif

enum class frame_shape : std::uint8_t { frame_pointer, leaf };

/// Where a function's frame changes, as offsets from its first instruction.
struct frame {
  frame_shape shape = frame_shape::leaf;
  std::uint32_t code_size = 0;  ///< bytes the description covers
  /// frame_pointer: the offset just after the caller's frame pointer (and
  /// return address, off x86-64) are saved.
  std::uint32_t after_save = 0;
  /// frame_pointer: the offset just after the frame pointer is set.
  std::uint32_t after_frame_setup = 0;
  /// frame_pointer: the offset just after the frame is torn down (before the
  /// return), if the code returns.
  std::optional<std::uint32_t> after_teardown{};
};

/// The frame-pointer prologue's length in bytes, per architecture.
[[nodiscard]] constexpr std::uint32_t standard_prologue(architecture arch) noexcept {
  return arch == architecture::x64 ? 4 : arch == architecture::arm64 ? 8 : 16;
}

/// The frame of a function that begins with the standard prologue of `arch`
/// (see the top of this header) and tears its frame down ending at
/// `after_teardown` (none if it never returns).
[[nodiscard]] constexpr frame standard_frame(architecture arch, std::uint32_t code_size,
                                             std::optional<std::uint32_t> after_teardown) noexcept {
  switch (arch) {
    case architecture::x64:
      return {frame_shape::frame_pointer, code_size, 1, 4, after_teardown};
    case architecture::arm64:
      return {frame_shape::frame_pointer, code_size, 4, 8, after_teardown};
    case architecture::riscv64:
      return {frame_shape::frame_pointer, code_size, 12, 16, after_teardown};
  }
  return {};
}

[[nodiscard]] constexpr frame leaf(std::uint32_t code_size) noexcept { return {frame_shape::leaf, code_size}; }

/// One FDE found by parse().
struct fde {
  std::size_t location_offset = 0;  ///< where in the entries its 8-byte initial location is stored
  std::uint64_t location = 0;       ///< as stored (relative to the code's start before rebase)
  std::uint64_t range = 0;          ///< bytes of code it covers
};

/// The CIE and FDE that describe `f` for `arch`. Errors: invalid_argument
/// (empty code, offsets out of order, beyond code_size, or not a multiple of
/// the instruction size).
[[nodiscard]] JITCM_DECL result<std::vector<std::byte>> build(architecture arch, const frame& f);

/// The FDEs of `entries` (code_desc::unwind_info's format). Errors:
/// invalid_argument (malformed entries, an FDE whose CIE is not in
/// `entries`), unsupported (an FDE location not stored as an 8-byte
/// absolute address: DW_EH_PE_absptr or udata8).
[[nodiscard]] JITCM_DECL result<std::vector<fde>> parse(std::span<const std::byte> entries);

/// A copy of `entries` with `base` added to every FDE's location, followed
/// by the zero terminator (a registrable .eh_frame section). Errors: parse's.
[[nodiscard]] JITCM_DECL result<std::vector<std::byte>> rebase(std::span<const std::byte> entries, std::uint64_t base);

}  // namespace jitcm::observe::eh_frame

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/eh_frame.ipp"  // IWYU pragma: export
#endif
