// The smallest ELF object GDB accepts from the JIT interface: a .text section
// without contents placed at the code's address, and a symbol table naming
// each function in it. GDB reads it as a symbol file, so `break name`, `bt`
// and `info symbol` work on JIT code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../../base/address_region.hpp"
#include "../../base/config.hpp"

namespace jitcm::observe::detail {

struct elf_symbol {
  std::string name;
  address_region instructions;
};

/// e_machine of the host.
inline constexpr std::uint16_t elf_host_machine =
#if defined(JITCM_ARCH_ARM64)
    183;
#elif defined(JITCM_ARCH_RISCV64)
    243;
#else
    62;
#endif

/// An ELF64 relocatable object (GDB places its sections at their sh_addr):
///   [0] null  [1] .text (NOBITS, ALLOC|EXEC, at the lowest symbol, spanning all)
///   [2] .symtab  [3] .strtab  [4] .shstrtab
/// Every symbol is a global function in .text, valued relative to it.
/// Precondition: `symbols` is not empty.
[[nodiscard]] JITCM_DECL std::vector<std::byte> build_elf_image(std::span<const elf_symbol> symbols);

}  // namespace jitcm::observe::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/elf_image.ipp"  // IWYU pragma: export
#endif
