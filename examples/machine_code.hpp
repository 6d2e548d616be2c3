// Machine code for the examples (and the core tests): the smallest functions
// that show code running, encoded for the host CPU. A real JIT would have an
// assembler here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdio>

#include <jitcm/base/config.hpp>

namespace example {

/// `int f() { return value; }` for the host CPU, padded to a fixed size.
/// value must fit the immediate of the host's move: 0..2047 works everywhere.
struct return_constant {
  static constexpr std::size_t size = 8;
  std::array<std::byte, size> bytes{};

  explicit return_constant(std::uint32_t value) noexcept {
#if defined(JITCM_ARCH_X64)
    const unsigned char code[size] = {0xb8,  // mov eax, imm32
                                      static_cast<unsigned char>(value),
                                      static_cast<unsigned char>(value >> 8),
                                      static_cast<unsigned char>(value >> 16),
                                      static_cast<unsigned char>(value >> 24),
                                      0xc3,  // ret
                                      0xcc,
                                      0xcc};
    std::memcpy(bytes.data(), code, size);
#elif defined(JITCM_ARCH_ARM64)
    const std::uint32_t code[2] = {0x52800000u | ((value & 0xffffu) << 5),  // movz w0, #value
                                   0xd65f03c0u};                            // ret
    std::memcpy(bytes.data(), code, size);
#elif defined(JITCM_ARCH_RISCV64)
    const std::uint32_t code[2] = {((value & 0xfffu) << 20) | (10u << 7) | 0x13u,  // addi a0, zero, value
                                   0x00008067u};                                   // ret (jalr zero, 0(ra))
    std::memcpy(bytes.data(), code, size);
#else
#error "the examples carry machine code for x86-64, AArch64 and RISC-V 64 only"
#endif
  }
};

using int_function = int (*)();

/// The function at `address` (code the module published, or a jump-table slot).
inline int_function function_at(std::uintptr_t address) noexcept { return reinterpret_cast<int_function>(address); }

}  // namespace example
