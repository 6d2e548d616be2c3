// Machine code the observe tests run: a function with a frame-pointer frame
// that calls a C++ function (so an exception or a backtrace must unwind
// through it), for each architecture jitcm runs on; and the one place the
// tests publish code (so a change of publish's return type is made here).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include <jitcm/jitcm.hpp>
#include <jitcm/observe/eh_frame.hpp>

namespace observe_test {

/// `void f() { callee(); }` with the host's standard frame-pointer prologue
/// and epilogue (see observe/eh_frame.hpp), and its unwind info.
struct calling_function {
  std::vector<std::byte> bytes;
  std::uint32_t after_teardown = 0;

  explicit calling_function(void (*callee)()) {
    const auto target = reinterpret_cast<std::uint64_t>(callee);
#if defined(JITCM_ARCH_X64)
    const unsigned char code[] = {0x55,                    // push rbp
                                  0x48, 0x89, 0xe5,        // mov rbp, rsp
                                  0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,  // movabs rax, callee
                                  0xff, 0xd0,              // call rax
                                  0x5d,                    // pop rbp
                                  0xc3};                   // ret
    append(code, sizeof code);
    std::memcpy(bytes.data() + 6, &target, sizeof target);
    after_teardown = 17;
#elif defined(JITCM_ARCH_ARM64)
    const std::uint32_t code[] = {0xa9bf7bfd,   // stp x29, x30, [sp, #-16]!
                                  0x910003fd,   // mov x29, sp
                                  0x58000090,   // ldr x16, #16 (the literal below)
                                  0xd63f0200,   // blr x16
                                  0xa8c17bfd,   // ldp x29, x30, [sp], #16
                                  0xd65f03c0};  // ret
    append(code, sizeof code);
    append(&target, sizeof target);
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
    append(code, sizeof code);
    append(&target, sizeof target);
    after_teardown = 40;
#endif
  }

  /// The unwind info of this function (FDE relative to its start).
  [[nodiscard]] std::vector<std::byte> unwind_info() const {
    namespace eh = jitcm::observe::eh_frame;
    auto built = eh::build(eh::host, eh::standard_frame(eh::host, static_cast<std::uint32_t>(bytes.size()),
                                                        after_teardown));
    return built ? *built : std::vector<std::byte>{};
  }

 private:
  void append(const void* from, std::size_t size) {
    const std::size_t at = bytes.size();
    bytes.resize(at + size);
    std::memcpy(bytes.data() + at, from, size);
  }
};

/// Publishes `bytes` into `module` as described by `desc` (allocate, copy,
/// publish). nullptr on any failure.
template <class Module>
const jitcm::code* publish_bytes(Module& module, std::span<const std::byte> bytes, const jitcm::code_desc& desc) {
  auto room = module.allocate(bytes.size());
  if (!room) return nullptr;
  std::memcpy(room->data(), bytes.data(), bytes.size());
  jitcm::code_desc sized = desc;
  sized.instructions = {0, bytes.size()};
  auto published = module.publish(*room, sized);
  return published ? *published : nullptr;
}

/// A lazy entry for modules whose functions are all published before use.
inline std::uintptr_t unused_lazy_entry(std::uint32_t) { return 0; }
inline std::uintptr_t lazy_entry() {
  auto entry = jitcm::jump_table::lazy_trampoline(&unused_lazy_entry);
  return entry ? *entry : 0;
}

}  // namespace observe_test
