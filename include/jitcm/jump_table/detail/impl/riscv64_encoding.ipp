// Definitions of <jitcm/jump_table/detail/riscv64_encoding.hpp> (see
// allocator/impl/tlsf.ipp): every TU includes the RISC-V encodings, on any
// host, while writing a slot is rare and slow even on RISC-V (a code
// install, an icache flush across harts), where a call costs nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../riscv64_encoding.hpp"

namespace jitcm::jump_table::detail {

JITCM_DECL result<riscv64_encoding::patch_word> riscv64_encoding::near_branch(std::uintptr_t slot,
                                                                              std::uintptr_t target) noexcept {
  const std::int64_t offset = distance(slot, target);
  if ((offset & 1) != 0) return failure{errc::misaligned};
  if (!fits_signed(offset, 21)) return failure{errc::target_out_of_range};
  const auto imm = static_cast<std::uint32_t>(offset);
  return ((imm >> 20) & 1u) << 31 | ((imm >> 1) & 0x3FFu) << 21 | ((imm >> 11) & 1u) << 20 |
         ((imm >> 12) & 0xFFu) << 12 | 0x6Fu;  // jal x0
}

JITCM_DECL std::uintptr_t riscv64_encoding::near_branch_target(std::uintptr_t slot, patch_word word) noexcept {
  if ((word & 0xFFFu) != 0x6Fu) return 0;
  std::uint32_t imm = ((word >> 31) & 1u) << 20 | ((word >> 21) & 0x3FFu) << 1 | ((word >> 20) & 1u) << 11 |
                      ((word >> 12) & 0xFFu) << 12;
  const std::int64_t offset = static_cast<std::int32_t>(imm << 11) >> 11;
  return slot + static_cast<std::uintptr_t>(offset);
}

JITCM_DECL result<slot_bytes<riscv64_encoding::near_slot_size>> riscv64_encoding::near_slot(
    std::uintptr_t slot, std::uintptr_t target) noexcept {
  auto word = near_branch(slot, target);
  if (!word) return forward_error(word);
  byte_writer<near_slot_size> out{0};
  out.u32(*word);
  return out.bytes();
}

JITCM_DECL result<slot_bytes<riscv64_encoding::far_slot_size>> riscv64_encoding::far_slot(
    std::uintptr_t slot, std::uintptr_t cell) noexcept {
  byte_writer<far_slot_size> out{0};
  if (auto ok = put_indirect_jump(out, slot, cell); !ok) return forward_error(ok);
  return out.bytes();
}

JITCM_DECL result<slot_bytes<riscv64_encoding::lazy_slot_size>> riscv64_encoding::lazy_slot(
    std::uintptr_t slot, std::uint32_t index, std::uintptr_t entry_cell) noexcept {
  if (index > max_functions) return failure{errc::out_of_range};
  byte_writer<lazy_slot_size> out{0};
  const auto [hi, lo] = split(index);
  out.u32(u_type(0x37, t0, hi));         // lui t0, hi
  out.u32(i_type(0x1B, 0, t0, t0, lo));  // addiw t0, t0, lo
  if (auto ok = put_indirect_jump(out, slot, entry_cell); !ok) return forward_error(ok);
  return out.bytes();
}

JITCM_DECL result<slot_bytes<riscv64_encoding::context_entry_size>> riscv64_encoding::context_entry(
    std::uintptr_t, std::uintptr_t context, std::uintptr_t trampoline) noexcept {
  constexpr std::uint32_t t2 = 7;
  byte_writer<context_entry_size> out{0};
  out.u32(u_type(0x17, t2, 0));                                   // auipc t2, 0
  out.u32(i_type(0x03, 3, t1, t2, context_entry_code_size));      // ld t1, 16(t2)
  out.u32(i_type(0x03, 3, t2, t2, context_entry_code_size + 8));  // ld t2, 24(t2)
  out.u32(i_type(0x67, 0, 0, t2, 0));                             // jalr x0, 0(t2)
  out.put(context, 8).put(trampoline, 8);
  return out.bytes();
}

}  // namespace jitcm::jump_table::detail
