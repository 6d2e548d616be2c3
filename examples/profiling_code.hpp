// Machine code for the profiling example (and the observe tests): a counting
// loop worth sampling, and a function with a frame that calls C++ (so
// exceptions and backtraces must unwind through it), for the host CPU; and
// the helper both use to publish it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <jitcm/base/code.hpp>
#include <jitcm/base/config.hpp>
#include <jitcm/observe/eh_frame.hpp>

namespace example {

namespace detail {
inline void append(std::vector<std::byte>& bytes, const void* from, std::size_t size) {
  const std::size_t at = bytes.size();
  bytes.resize(at + size);
  std::memcpy(bytes.data() + at, from, size);
}
}  // namespace detail

/// `void f() { for (n = 1 << log2_iterations; n != 0; --n) {} }`;
/// 16 <= log2_iterations <= 30.
inline std::vector<std::byte> counting_loop(unsigned log2_iterations) {
  std::vector<std::byte> bytes;
#if defined(JITCM_ARCH_X64)
  const std::uint32_t count = 1u << log2_iterations;
  const unsigned char code[] = {0xb9, 0,    0, 0, 0,  // mov ecx, count
                                0xff, 0xc9,           // loop: dec ecx
                                0x75, 0xfc,           // jnz loop
                                0xc3};                // ret
  detail::append(bytes, code, sizeof code);
  std::memcpy(bytes.data() + 1, &count, sizeof count);
#elif defined(JITCM_ARCH_ARM64)
  const std::uint32_t code[] = {0x52a00000u | ((1u << (log2_iterations - 16)) << 5),  // movz w0, #count >> 16, lsl 16
                                0x71000400u,                                          // loop: subs w0, w0, #1
                                0x54ffffe1u,                                          // b.ne loop
                                0xd65f03c0u};                                         // ret
  detail::append(bytes, code, sizeof code);
#elif defined(JITCM_ARCH_RISCV64)
  const std::uint32_t code[] = {((1u << (log2_iterations - 12)) << 12) | 0x537u,  // lui a0, count >> 12
                                0xfff50513u,                                      // loop: addi a0, a0, -1
                                0xfe051ee3u,                                      // bnez a0, loop
                                0x00008067u};                                     // ret
  detail::append(bytes, code, sizeof code);
#endif
  return bytes;
}

/// `void f() { callee(); }` with the host's standard frame-pointer prologue
/// and epilogue (observe/eh_frame.hpp lists them), and its unwind info.
struct calling_function {
  std::vector<std::byte> bytes;
  std::uint32_t after_teardown = 0;

  explicit calling_function(void (*callee)()) {
    const auto target = reinterpret_cast<std::uint64_t>(callee);
#if defined(JITCM_ARCH_X64)
    const unsigned char code[] = {0x55,                                   // push rbp
                                  0x48, 0x89, 0xe5,                       // mov rbp, rsp
                                  0x48, 0xb8, 0,    0, 0, 0, 0, 0, 0, 0,  // movabs rax, callee
                                  0xff, 0xd0,                             // call rax
                                  0x5d,                                   // pop rbp
                                  0xc3};                                  // ret
    detail::append(bytes, code, sizeof code);
    std::memcpy(bytes.data() + 6, &target, sizeof target);
    after_teardown = 17;
#elif defined(JITCM_ARCH_ARM64)
    const std::uint32_t code[] = {0xa9bf7bfd,   // stp x29, x30, [sp, #-16]!
                                  0x910003fd,   // mov x29, sp
                                  0x58000090,   // ldr x16, #16 (the literal below)
                                  0xd63f0200,   // blr x16
                                  0xa8c17bfd,   // ldp x29, x30, [sp], #16
                                  0xd65f03c0};  // ret
    detail::append(bytes, code, sizeof code);
    detail::append(bytes, &target, sizeof target);
    after_teardown = 20;
#elif defined(JITCM_ARCH_RISCV64)
    const std::uint32_t code[] = {0xff010113,   // addi sp, sp, -16
                                  0x00113423,   // sd ra, 8(sp)
                                  0x00813023,   // sd s0, 0(sp)
                                  0x01010413,   // addi s0, sp, 16
                                  0x00000297,   // auipc t0, 0
                                  0x0202b283,   // ld t0, 32(t0) (the literal below)
                                  0x000280e7,   // jalr ra, 0(t0)
                                  0x00813083,   // ld ra, 8(sp)
                                  0x00013403,   // ld s0, 0(sp)
                                  0x01010113,   // addi sp, sp, 16
                                  0x00008067,   // ret
                                  0x00000013};  // nop (aligns the literal)
    detail::append(bytes, code, sizeof code);
    detail::append(bytes, &target, sizeof target);
    after_teardown = 40;
#endif
  }

  /// This function's unwind info (FDE relative to its start), or empty.
  [[nodiscard]] std::vector<std::byte> unwind_info() const {
    namespace eh = jitcm::observe::eh_frame;
    auto built =
        eh::build(eh::host, eh::standard_frame(eh::host, static_cast<std::uint32_t>(bytes.size()), after_teardown));
    return built ? std::move(*built) : std::vector<std::byte>{};
  }
};

/// Publishes finished `bytes` into `module` as `desc` says (allocate, copy,
/// publish; baseline tier unless `desc` names one); nullptr on any failure.
/// The one place the example and the observe tests call publish. The code
/// stays installed for the program's life (nothing here replaces or removes
/// it), so the pointer, handed out held by the scope below, stays valid after.
template <class Module>
const jitcm::code* publish_bytes(Module& module, std::span<const std::byte> bytes, const jitcm::code_desc& desc) {
  auto room = module.allocate(bytes.size());
  if (!room) return nullptr;
  std::memcpy(room->writable(), bytes.data(), bytes.size());
  jitcm::code_desc sized = desc;
  sized.instructions = {0, bytes.size()};
  if (sized.tier == jitcm::tier{}) sized.tier = jitcm::tiering::two_tier::baseline;
  [[maybe_unused]] typename Module::ref_counting_type::scope scope;
  auto published = module.publish(*room, sized);
  return published ? published->code : nullptr;
}

}  // namespace example
