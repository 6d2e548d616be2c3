// The RISC-V 64 jump-table emitter.
#pragma once

#include "detail/machine_code_emitter.hpp"
#include "detail/riscv64_encoding.hpp"

namespace jitcm::jump_table {

/// RISC-V 64 slots (see detail/riscv64_encoding.hpp for the words, and why
/// the near slot is one `jal` rather than an auipc+jalr pair):
///   near  `jal x0, target` (±1 MiB), replaced by one atomic 4-byte store
///   far   `auipc t1; ld t1; jalr x0, 0(t1)` through the cell in the data area (±2 GiB)
///   lazy  `lui t0; addiw t0` (the index), then the same indirect jump to the entry
///
/// Lazy-compile entry ABI: entered by `jalr x0` (ra holds the caller's return
/// address, a0-a7 and fa0-fa7 as the caller set them), with the function
/// index in t0 (sign-extended, always positive) and t1 the entry's address.
struct riscv64 : detail::machine_code_emitter<detail::riscv64_encoding> {};

}  // namespace jitcm::jump_table
