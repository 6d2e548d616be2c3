// x86-64 instruction encodings of the jump-table slots.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../base/config.hpp"
#include "../../base/result.hpp"
#include "instruction_bytes.hpp"

namespace jitcm::jump_table::detail {

/// Slot layouts (bytes; `pad` is endbr64 when LandingPads, which indirect
/// branches must land on under CET indirect-branch tracking):
///
///   near  [pad, nopl 0(%rax)] jmp rel32; int3 x3   8 or 16 bytes; the last 8 are
///                                                  one aligned word, replaced by
///                                                  one atomic store
///   far   jmp *cell(%rip); int3 x2                 8 bytes; cell in the data area
///   lazy  [pad] mov $index, %r10d; jmp *entry(%rip); int3...   16 bytes
///   context entry  [endbr64] mov context(%rip), %r11; jmp *trampoline(%rip);
///         int3...; the two 8-byte literals            32 or 40 bytes
template <bool LandingPads>
struct x64_encoding {
  static constexpr const char* name = LandingPads ? "x64 (endbr64)" : "x64";
  static constexpr bool is_host =
#if defined(JITCM_ARCH_X64)
      true;
#else
      false;
#endif
  /// x86-64 keeps instruction fetch coherent with stores: no flush, no
  /// cross-core barrier beyond the atomic store itself.
  static constexpr bool needs_instruction_sync = false;

  static constexpr std::size_t pad_size = LandingPads ? 8 : 0;  // endbr64 + 4-byte nop keeps the word aligned
  static constexpr std::size_t near_slot_size = pad_size + 8;
  static constexpr std::size_t far_slot_size = 8;
  static constexpr std::size_t lazy_slot_size = 16;
  static constexpr std::size_t instruction_alignment = 1;
  static constexpr std::size_t patch_offset = pad_size;
  using patch_word = std::uint64_t;

  static constexpr std::size_t jmp_rel32_size = 5;
  // |target - slot| within this keeps rel32 (counted from the end of the jmp) in range.
  static constexpr std::size_t near_range = (std::size_t{1} << 31) - 1 - (patch_offset + jmp_rel32_size);
  static constexpr std::uint32_t max_functions = 0xFFFFFFFFu;

  static constexpr std::uint8_t int3 = 0xCC;

  [[nodiscard]] static result<patch_word> near_branch(std::uintptr_t slot, std::uintptr_t target) noexcept {
    const std::int64_t rel = distance(slot + patch_offset + jmp_rel32_size, target);
    if (!fits_signed(rel, 32)) return failure{errc::target_out_of_range};
    byte_writer<8> word{int3};
    word.u8(0xE9).u32(static_cast<std::uint32_t>(rel));
    return static_cast<patch_word>(read_le(word.bytes(), 0, 8));
  }

  /// Where a near-slot word branches to, or 0 when it is not this slot's jmp.
  [[nodiscard]] static std::uintptr_t near_branch_target(std::uintptr_t slot, patch_word word) noexcept {
    if ((word & 0xFF) != 0xE9) return 0;
    const auto rel = static_cast<std::int32_t>(static_cast<std::uint32_t>(word >> 8));
    return slot + patch_offset + jmp_rel32_size + static_cast<std::uintptr_t>(static_cast<std::intptr_t>(rel));
  }

  [[nodiscard]] static result<slot_bytes<near_slot_size>> near_slot(std::uintptr_t slot,
                                                                    std::uintptr_t target) noexcept {
    auto word = near_branch(slot, target);
    if (!word) return forward_error(word);
    byte_writer<near_slot_size> out{int3};
    put_landing_pad(out);
    out.put(*word, 8);
    return out.bytes();
  }

  [[nodiscard]] static result<slot_bytes<far_slot_size>> far_slot(std::uintptr_t slot, std::uintptr_t cell) noexcept {
    byte_writer<far_slot_size> out{int3};
    if (auto ok = put_indirect_jump(out, slot, cell); !ok) return forward_error(ok);
    return out.bytes();
  }

  [[nodiscard]] static result<slot_bytes<lazy_slot_size>> lazy_slot(std::uintptr_t slot, std::uint32_t index,
                                                                    std::uintptr_t entry_cell) noexcept {
    byte_writer<lazy_slot_size> out{int3};
    if constexpr (LandingPads) out.u32(endbr64);
    out.u8(0x41).u8(0xBA).u32(index);  // mov $index, %r10d
    if (auto ok = put_indirect_jump(out, slot, entry_cell); !ok) return forward_error(ok);
    return out.bytes();
  }

  /// A module's own lazy entry: loads the module's context pointer into r11
  /// and jumps to the shared trampoline, both read from literals after the
  /// code (r11 is free at a call boundary; the lazy slot left the index in r10).
  static constexpr std::size_t context_entry_code_size = LandingPads ? 24 : 16;
  static constexpr std::size_t context_entry_size = context_entry_code_size + 16;

  [[nodiscard]] static result<slot_bytes<context_entry_size>> context_entry(std::uintptr_t entry,
                                                                            std::uintptr_t context,
                                                                            std::uintptr_t trampoline) noexcept {
    byte_writer<context_entry_size> out{int3};
    if constexpr (LandingPads) out.u32(endbr64);
    const std::uintptr_t context_literal = entry + context_entry_code_size;
    // mov context_literal(%rip), %r11: 4c 8b 1d disp32, counted from the next instruction.
    const std::int64_t disp = distance(entry + out.position() + 7, context_literal);
    out.u8(0x4C).u8(0x8B).u8(0x1D).u32(static_cast<std::uint32_t>(disp));
    if (auto ok = put_indirect_jump(out, entry, context_literal + 8); !ok) return forward_error(ok);
    while (out.position() < context_entry_code_size) out.u8(int3);
    out.put(context, 8).put(trampoline, 8);
    return out.bytes();
  }

 private:
  static constexpr std::uint32_t endbr64 = 0xFA1E0FF3;     // f3 0f 1e fa
  static constexpr std::uint32_t nopl_disp8 = 0x00401F0F;  // 0f 1f 40 00

  template <std::size_t N>
  static constexpr void put_landing_pad(byte_writer<N>& out) noexcept {
    if constexpr (LandingPads) out.u32(endbr64).u32(nopl_disp8);
  }

  // jmp *cell(%rip): ff 25 disp32, the displacement counted from the next instruction.
  template <std::size_t N>
  static result<void> put_indirect_jump(byte_writer<N>& out, std::uintptr_t slot, std::uintptr_t cell) noexcept {
    const std::int64_t disp = distance(slot + out.position() + 6, cell);
    if (!fits_signed(disp, 32)) return failure{errc::target_out_of_range};
    out.u8(0xFF).u8(0x25).u32(static_cast<std::uint32_t>(disp));
    return {};
  }
};

}  // namespace jitcm::jump_table::detail
