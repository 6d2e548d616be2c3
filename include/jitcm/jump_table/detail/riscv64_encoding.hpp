// RISC-V 64 instruction encodings of the jump-table slots.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../base/config.hpp"
#include "../../base/result.hpp"
#include "instruction_bytes.hpp"

namespace jitcm::jump_table::detail {

/// Slot layouts (4-byte instructions, never compressed):
///
///   near  jal x0, target                            4 bytes, ±1 MiB
///   far   auipc t1, %hi(cell); ld t1, %lo(cell)(t1); jalr x0, 0(t1)   12 bytes
///   lazy  lui t0, %hi(index); addiw t0, t0, %lo(index);
///         auipc t1, %hi(entry); ld t1, %lo(entry)(t1); jalr x0, 0(t1) 20 bytes
///
/// Why the near slot is a single `jal` and not an auipc+jalr pair: a thread
/// can be interrupted between the two instructions of a pair and resume after
/// the pair was replaced, running the old auipc with the new jalr and jumping
/// to neither target (the reason Linux's RISC-V ftrace patches only single
/// instructions, and V8's RISC-V jump slots load their target from data).
/// One aligned 4-byte instruction is replaced atomically; targets beyond
/// ±1 MiB go through the far slot, whose target is data.
struct riscv64_encoding {
  static constexpr const char* name = "riscv64";
  static constexpr bool is_host =
#if defined(JITCM_ARCH_RISCV64)
      true;
#else
      false;
#endif
  /// fence.i only orders the executing hart; other harts need the kernel's
  /// icache flush and a cross-hart synchronisation.
  static constexpr bool needs_instruction_sync = true;

  static constexpr std::size_t near_slot_size = 4;
  static constexpr std::size_t far_slot_size = 12;
  static constexpr std::size_t lazy_slot_size = 20;
  /// Targets may be 2-aligned: code using compressed instructions starts
  /// functions on any halfword. The slots themselves stay 4-aligned.
  static constexpr std::size_t instruction_alignment = 2;
  static constexpr std::size_t patch_offset = 0;
  using patch_word = std::uint32_t;

  // jal reaches [-1 MiB, 1 MiB - 2] from itself.
  static constexpr std::size_t near_range = (std::size_t{1} << 20) - 2;
  // lui + addiw materialise a sign-extended 32-bit value; the index must stay positive.
  static constexpr std::uint32_t max_functions = 0x7FFFF7FFu;

  static constexpr std::uint32_t t0 = 5;
  static constexpr std::uint32_t t1 = 6;

  [[nodiscard]] static result<patch_word> near_branch(std::uintptr_t slot, std::uintptr_t target) noexcept;

  [[nodiscard]] static std::uintptr_t near_branch_target(std::uintptr_t slot, patch_word word) noexcept;

  [[nodiscard]] static result<slot_bytes<near_slot_size>> near_slot(std::uintptr_t slot,
                                                                    std::uintptr_t target) noexcept;

  [[nodiscard]] static result<slot_bytes<far_slot_size>> far_slot(std::uintptr_t slot, std::uintptr_t cell) noexcept;

  [[nodiscard]] static result<slot_bytes<lazy_slot_size>> lazy_slot(std::uintptr_t slot, std::uint32_t index,
                                                                    std::uintptr_t entry_cell) noexcept;

  /// A module's own lazy entry: auipc t2, 0; ld t1, 16(t2); ld t2, 24(t2);
  /// jr t2; then the two 8-byte literals. t1 carries the module's context
  /// pointer (the lazy slot jumped here through t1; t0 holds the index).
  static constexpr std::size_t context_entry_code_size = 16;
  static constexpr std::size_t context_entry_size = context_entry_code_size + 16;

  [[nodiscard]] static result<slot_bytes<context_entry_size>> context_entry(std::uintptr_t, std::uintptr_t context,
                                                                            std::uintptr_t trampoline) noexcept;

 private:
  struct hi_lo {
    std::int64_t hi;  // upper 20 bits, for lui/auipc
    std::int64_t lo;  // sign-extended lower 12 bits, added back by addi/ld
  };
  [[nodiscard]] static constexpr hi_lo split(std::int64_t value) noexcept {
    const std::int64_t hi = (value + 0x800) >> 12;
    return {hi, value - hi * 4096};
  }
  [[nodiscard]] static constexpr std::uint32_t u_type(std::uint32_t opcode, std::uint32_t rd,
                                                      std::int64_t imm20) noexcept {
    return (static_cast<std::uint32_t>(imm20) & 0xFFFFFu) << 12 | rd << 7 | opcode;
  }
  [[nodiscard]] static constexpr std::uint32_t i_type(std::uint32_t opcode, std::uint32_t funct3, std::uint32_t rd,
                                                      std::uint32_t rs1, std::int64_t imm12) noexcept {
    return (static_cast<std::uint32_t>(imm12) & 0xFFFu) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode;
  }

  // auipc t1, %hi; ld t1, %lo(t1); jalr x0, 0(t1)
  template <std::size_t N>
  static result<void> put_indirect_jump(byte_writer<N>& out, std::uintptr_t slot, std::uintptr_t cell) noexcept {
    const std::int64_t offset = distance(slot + out.position(), cell);
    const auto [hi, lo] = split(offset);
    if (!fits_signed(hi, 20)) return failure{errc::target_out_of_range};
    out.u32(u_type(0x17, t1, hi));
    out.u32(i_type(0x03, 3, t1, t1, lo));
    out.u32(i_type(0x67, 0, 0, t1, 0));
    return {};
  }
};

}  // namespace jitcm::jump_table::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/riscv64_encoding.ipp"  // IWYU pragma: export
#endif
