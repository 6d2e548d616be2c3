// AArch64 instruction encodings of the jump-table slots.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../base/config.hpp"
#include "../../base/result.hpp"
#include "instruction_bytes.hpp"

namespace jitcm::jump_table::detail {

/// Slot layouts (4-byte instructions; `bti c` first when LandingPads, which
/// BLR and BR x16 must land on when branch target identification is on):
///
///   near  [bti c] b target                          4 or 8 bytes; the b is the
///                                                   word one atomic store replaces
///   far   ldr x16, cell; br x16                     8 bytes; cell within 1 MiB
///   lazy  [bti c] movz w17, #index_lo; movk w17, #index_hi, lsl 16;
///         ldr x16, entry; br x16 [brk #0]           16 or 24 bytes
///
/// The far and lazy slots load their targets with a pc-relative literal load,
/// which reaches ±1 MiB: the data area must sit within 1 MiB of every slot
/// (initialize reports target_out_of_range otherwise). x16 is the register
/// BTI lets `br` use towards a `bti c` landing pad.
template <bool LandingPads>
struct arm64_encoding {
  static constexpr const char* name = LandingPads ? "arm64 (bti)" : "arm64";
  static constexpr bool is_host =
#if defined(JITCM_ARCH_ARM64)
      true;
#else
      false;
#endif
  /// Other cores may hold the old instruction in their pipelines: patched
  /// code needs a cache flush and a context synchronisation on every core.
  static constexpr bool needs_instruction_sync = true;

  static constexpr std::size_t pad_size = LandingPads ? 4 : 0;
  static constexpr std::size_t near_slot_size = pad_size + 4;
  static constexpr std::size_t far_slot_size = 8;
  static constexpr std::size_t lazy_slot_size = LandingPads ? 24 : 16;
  static constexpr std::size_t instruction_alignment = 4;
  static constexpr std::size_t patch_offset = pad_size;
  using patch_word = std::uint32_t;

  // b reaches [-128 MiB, 128 MiB - 4] from itself; from the slot start that is
  // 128 MiB - 4 - pad either way.
  static constexpr std::size_t near_range = (std::size_t{1} << 27) - 4 - pad_size;
  static constexpr std::uint32_t max_functions = 0xFFFFFFFFu;

  static constexpr std::uint32_t bti_c = 0xD503245F;
  static constexpr std::uint32_t brk_0 = 0xD4200000;
  static constexpr std::uint32_t br_x16 = 0xD61F0200;

  [[nodiscard]] static result<patch_word> near_branch(std::uintptr_t slot, std::uintptr_t target) noexcept {
    const std::int64_t offset = distance(slot + patch_offset, target);
    if ((offset & 3) != 0) return failure{errc::misaligned};
    if (!fits_signed(offset, 28)) return failure{errc::target_out_of_range};
    return 0x14000000u | (static_cast<std::uint32_t>(offset >> 2) & 0x03FFFFFFu);
  }

  [[nodiscard]] static std::uintptr_t near_branch_target(std::uintptr_t slot, patch_word word) noexcept {
    if ((word & 0xFC000000u) != 0x14000000u) return 0;
    // Sign-extend imm26 and scale by 4.
    const std::int64_t offset = static_cast<std::int64_t>(static_cast<std::int32_t>(word << 6) >> 6) * 4;
    return slot + patch_offset + static_cast<std::uintptr_t>(offset);
  }

  [[nodiscard]] static result<slot_bytes<near_slot_size>> near_slot(std::uintptr_t slot,
                                                                    std::uintptr_t target) noexcept {
    auto word = near_branch(slot, target);
    if (!word) return forward_error(word);
    byte_writer<near_slot_size> out{0};
    if constexpr (LandingPads) out.u32(bti_c);
    out.u32(*word);
    return out.bytes();
  }

  [[nodiscard]] static result<slot_bytes<far_slot_size>> far_slot(std::uintptr_t slot, std::uintptr_t cell) noexcept {
    byte_writer<far_slot_size> out{0};
    if (auto ok = put_indirect_jump(out, slot, cell); !ok) return forward_error(ok);
    return out.bytes();
  }

  [[nodiscard]] static result<slot_bytes<lazy_slot_size>> lazy_slot(std::uintptr_t slot, std::uint32_t index,
                                                                    std::uintptr_t entry_cell) noexcept {
    byte_writer<lazy_slot_size> out{0};
    if constexpr (LandingPads) out.u32(bti_c);
    out.u32(0x52800000u | ((index & 0xFFFFu) << 5) | 17);  // movz w17, #lo
    out.u32(0x72A00000u | ((index >> 16) << 5) | 17);      // movk w17, #hi, lsl 16
    if (auto ok = put_indirect_jump(out, slot, entry_cell); !ok) return forward_error(ok);
    while (out.position() < lazy_slot_size) out.u32(brk_0);
    return out.bytes();
  }

  /// A module's own lazy entry: [bti c] ldr x9, context; ldr x16, trampoline;
  /// br x16; then the two 8-byte literals. x9 carries the module's context
  /// pointer (free at a call boundary); the lazy slot left the index in w17.
  static constexpr std::size_t context_entry_code_size = 16;
  static constexpr std::size_t context_entry_size = context_entry_code_size + 16;

  [[nodiscard]] static result<slot_bytes<context_entry_size>> context_entry(std::uintptr_t entry,
                                                                            std::uintptr_t context,
                                                                            std::uintptr_t trampoline) noexcept {
    byte_writer<context_entry_size> out{0};
    if constexpr (LandingPads) out.u32(bti_c);
    const std::uintptr_t context_literal = entry + context_entry_code_size;
    out.u32(ldr_literal(9, distance(entry + out.position(), context_literal)));
    if (auto ok = put_indirect_jump(out, entry, context_literal + 8); !ok) return forward_error(ok);
    while (out.position() < context_entry_code_size) out.u32(brk_0);
    out.put(context, 8).put(trampoline, 8);
    return out.bytes();
  }

 private:
  // ldr x<rt>, <pc + offset>: offset a multiple of 4 within ±1 MiB (checked by the callers).
  [[nodiscard]] static constexpr std::uint32_t ldr_literal(std::uint32_t rt, std::int64_t offset) noexcept {
    return 0x58000000u | ((static_cast<std::uint32_t>(offset >> 2) & 0x7FFFFu) << 5) | rt;
  }

  // ldr x16, <cell>; br x16
  template <std::size_t N>
  static result<void> put_indirect_jump(byte_writer<N>& out, std::uintptr_t slot, std::uintptr_t cell) noexcept {
    const std::int64_t offset = distance(slot + out.position(), cell);
    if ((offset & 3) != 0) return failure{errc::misaligned};
    if (!fits_signed(offset, 21)) return failure{errc::target_out_of_range};
    out.u32(ldr_literal(16, offset));
    out.u32(br_x16);
    return {};
  }
};

}  // namespace jitcm::jump_table::detail
