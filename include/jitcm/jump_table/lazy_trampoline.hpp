// A ready-made lazy-compile entry that runs a plain C++ function.
//
// A lazy slot jumps to the entry with the function index in a scratch
// register (see each emitter's ABI) and every argument register still as the
// original caller set it. The trampoline here saves those registers, calls
// the handler with the index, restores them and jumps to the address the
// handler returned, so the original call proceeds with its own arguments:
//
//   std::uintptr_t compile(std::uint32_t index) {
//     std::uintptr_t code = my_jit.compile(index);
//     (void)jump_table::host::patch(view, index, code, write_scopes_of(space));
//     return code;
//   }
//   auto entry = jump_table::lazy_trampoline(&compile);
//   if (!entry) return forward_error(entry);
//   jump_table::host::initialize(view, *entry);
//
// That handler is process-wide: one per program. native_module does not use
// it: each module writes its own small entry (jump_table emitters'
// `encode_context_entry`) that loads the module's `lazy_compile_callback`
// into a scratch register and enters the same trampoline through its second
// door, `lazy_context_trampoline()`, so that every module (and every library
// in the process) has its own handler and context.
//
// A handler must return the address of code to run (never 0) and must not
// throw; it runs on the caller's stack, in the calling thread, and may be
// entered by several threads at once for one index.
//
// Available on Linux and other ELF systems with GCC or Clang on x86-64,
// AArch64 and RISC-V 64, and on Windows x64 with MinGW-w64 (the Windows
// x64 calling convention: detail/windows_x64_lazy_trampoline.hpp)
// (has_lazy_trampoline); elsewhere lazy_trampoline() reports
// errc::unsupported and a program supplies its own entry.
#pragma once

#include <atomic>
#include <cstdint>

#include "../base/config.hpp"
#include "../base/result.hpp"

namespace jitcm::jump_table {

/// Compiles (or finds) function `index` and returns the address to continue at.
using lazy_handler = std::uintptr_t (*)(std::uint32_t index);

/// A lazy-compile handler with its context: `function(context, index)`
/// compiles (or finds) function `index` of the module the context stands for
/// and returns the address to continue at. A function pointer and a context,
/// as everywhere in jitcm.
struct lazy_compile_callback {
  std::uintptr_t (*function)(void* context, std::uint32_t index) noexcept = nullptr;
  void* context = nullptr;
};

namespace detail {

inline std::atomic<lazy_handler> installed_lazy_handler{nullptr};

}  // namespace detail

}  // namespace jitcm::jump_table

#if (defined(__ELF__) || (defined(JITCM_OS_WINDOWS) && defined(__MINGW64__))) && \
    (defined(__GNUC__) || defined(__clang__)) &&                                 \
    (defined(JITCM_ARCH_X64) || defined(JITCM_ARCH_ARM64) || defined(JITCM_ARCH_RISCV64))
#define JITCM_HAS_LAZY_TRAMPOLINE 1

// PE has no symbol visibility: every symbol stays inside its DLL or program.
#if defined(__ELF__)
#define JITCM_DETAIL_HIDDEN gnu::visibility("hidden")
#else
#define JITCM_DETAIL_HIDDEN
#endif

// Called by the assembly below; C linkage gives it a name the assembler knows.
// `callback` is null when the trampoline was entered through its first door
// (the process-wide handler), else the entering module's callback.
extern "C" [[gnu::used, JITCM_DETAIL_HIDDEN]] inline std::uintptr_t jitcm_lazy_dispatch(
    const jitcm::jump_table::lazy_compile_callback* callback, std::uint32_t index) noexcept {
  if (callback != nullptr) return callback->function(callback->context, index);
  return jitcm::jump_table::detail::installed_lazy_handler.load(std::memory_order_acquire)(index);
}

extern "C" [[JITCM_DETAIL_HIDDEN]] void jitcm_lazy_trampoline();
extern "C" [[JITCM_DETAIL_HIDDEN]] void jitcm_lazy_context_trampoline();
#undef JITCM_DETAIL_HIDDEN

// One copy per program: a COMDAT group the linker deduplicates, as it does
// for inline functions.
#define JITCM_DETAIL_TRAMPOLINE_PROLOGUE                                                      \
  ".pushsection .text.jitcm_lazy_trampoline,\"axG\",%progbits,jitcm_lazy_trampoline,comdat\n" \
  ".weak jitcm_lazy_trampoline\n"                                                             \
  ".hidden jitcm_lazy_trampoline\n"                                                           \
  ".type jitcm_lazy_trampoline,%function\n"                                                   \
  ".weak jitcm_lazy_context_trampoline\n"                                                     \
  ".hidden jitcm_lazy_context_trampoline\n"                                                   \
  ".type jitcm_lazy_context_trampoline,%function\n"                                           \
  ".p2align 4\n"                                                                              \
  "jitcm_lazy_trampoline:\n"                                                                  \
  ".cfi_startproc\n"
#define JITCM_DETAIL_TRAMPOLINE_EPILOGUE                   \
  ".cfi_endproc\n"                                         \
  ".size jitcm_lazy_trampoline, .-jitcm_lazy_trampoline\n" \
  ".popsection\n"

#if defined(JITCM_OS_WINDOWS)
#include "detail/windows_x64_lazy_trampoline.hpp"

#elif defined(JITCM_ARCH_X64)
// First door: the index in r10d, no context (r11 cleared). Second door: the
// index in r10d and the module's callback in r11. Saves the SysV argument
// registers (rdi, rsi, rdx, rcx, r8, r9, rax for varargs' vector count,
// xmm0-7), keeping the stack 16-byte aligned for the call.
asm(JITCM_DETAIL_TRAMPOLINE_PROLOGUE
#if defined(__CET__) && (__CET__ & 1)
    "  endbr64\n"
#endif
    "  xorl %r11d, %r11d\n"
    "jitcm_lazy_context_trampoline:\n"
#if defined(__CET__) && (__CET__ & 1)
    "  endbr64\n"
#endif
    "  pushq %rbp\n"
    "  .cfi_def_cfa_offset 16\n"
    "  .cfi_offset %rbp, -16\n"
    "  movq %rsp, %rbp\n"
    "  .cfi_def_cfa_register %rbp\n"
    "  subq $192, %rsp\n"
    "  movaps %xmm0, 0(%rsp)\n"
    "  movaps %xmm1, 16(%rsp)\n"
    "  movaps %xmm2, 32(%rsp)\n"
    "  movaps %xmm3, 48(%rsp)\n"
    "  movaps %xmm4, 64(%rsp)\n"
    "  movaps %xmm5, 80(%rsp)\n"
    "  movaps %xmm6, 96(%rsp)\n"
    "  movaps %xmm7, 112(%rsp)\n"
    "  movq %rdi, 128(%rsp)\n"
    "  movq %rsi, 136(%rsp)\n"
    "  movq %rdx, 144(%rsp)\n"
    "  movq %rcx, 152(%rsp)\n"
    "  movq %r8, 160(%rsp)\n"
    "  movq %r9, 168(%rsp)\n"
    "  movq %rax, 176(%rsp)\n"
    "  movq %r11, %rdi\n"
    "  movl %r10d, %esi\n"
    "  call jitcm_lazy_dispatch\n"
    "  movq %rax, %r11\n"
    "  movaps 0(%rsp), %xmm0\n"
    "  movaps 16(%rsp), %xmm1\n"
    "  movaps 32(%rsp), %xmm2\n"
    "  movaps 48(%rsp), %xmm3\n"
    "  movaps 64(%rsp), %xmm4\n"
    "  movaps 80(%rsp), %xmm5\n"
    "  movaps 96(%rsp), %xmm6\n"
    "  movaps 112(%rsp), %xmm7\n"
    "  movq 128(%rsp), %rdi\n"
    "  movq 136(%rsp), %rsi\n"
    "  movq 144(%rsp), %rdx\n"
    "  movq 152(%rsp), %rcx\n"
    "  movq 160(%rsp), %r8\n"
    "  movq 168(%rsp), %r9\n"
    "  movq 176(%rsp), %rax\n"
    "  leave\n"
    "  .cfi_def_cfa %rsp, 8\n"
    "  jmp *%r11\n" JITCM_DETAIL_TRAMPOLINE_EPILOGUE);

#elif defined(JITCM_ARCH_ARM64)
// First door: the index in w17, no context (x9 cleared). Second door: the
// index in w17 and the module's callback in x9. Saves x0-x8 and q0-q7 (the
// handler may clobber all of them) in a frame record the unwinder can follow.
asm(JITCM_DETAIL_TRAMPOLINE_PROLOGUE
#if defined(__ARM_FEATURE_BTI_DEFAULT)
    "  bti c\n"
#endif
    "  mov x9, xzr\n"
    "jitcm_lazy_context_trampoline:\n"
#if defined(__ARM_FEATURE_BTI_DEFAULT)
    "  bti c\n"
#endif
    "  stp x29, x30, [sp, #-224]!\n"
    "  .cfi_def_cfa_offset 224\n"
    "  .cfi_offset x29, -224\n"
    "  .cfi_offset x30, -216\n"
    "  mov x29, sp\n"
    "  stp x0, x1, [sp, #16]\n"
    "  stp x2, x3, [sp, #32]\n"
    "  stp x4, x5, [sp, #48]\n"
    "  stp x6, x7, [sp, #64]\n"
    "  str x8, [sp, #80]\n"
    "  stp q0, q1, [sp, #96]\n"
    "  stp q2, q3, [sp, #128]\n"
    "  stp q4, q5, [sp, #160]\n"
    "  stp q6, q7, [sp, #192]\n"
    "  mov x0, x9\n"
    "  mov w1, w17\n"
    "  bl jitcm_lazy_dispatch\n"
    "  mov x16, x0\n"
    "  ldp q6, q7, [sp, #192]\n"
    "  ldp q4, q5, [sp, #160]\n"
    "  ldp q2, q3, [sp, #128]\n"
    "  ldp q0, q1, [sp, #96]\n"
    "  ldr x8, [sp, #80]\n"
    "  ldp x6, x7, [sp, #64]\n"
    "  ldp x4, x5, [sp, #48]\n"
    "  ldp x2, x3, [sp, #32]\n"
    "  ldp x0, x1, [sp, #16]\n"
    "  ldp x29, x30, [sp], #224\n"
    "  .cfi_def_cfa_offset 0\n"
    "  br x16\n" JITCM_DETAIL_TRAMPOLINE_EPILOGUE);

#elif defined(JITCM_ARCH_RISCV64)
// First door: the index in t0, no context (t1 cleared). Second door: the
// index in t0 and the module's callback in t1. Saves ra, a0-a7 and, with
// hardware floating point, fa0-fa7.
asm(JITCM_DETAIL_TRAMPOLINE_PROLOGUE
    "  li t1, 0\n"
    "jitcm_lazy_context_trampoline:\n"
    "  addi sp, sp, -144\n"
    "  .cfi_def_cfa_offset 144\n"
    "  sd ra, 136(sp)\n"
    "  .cfi_offset ra, -8\n"
    "  sd a0, 0(sp)\n"
    "  sd a1, 8(sp)\n"
    "  sd a2, 16(sp)\n"
    "  sd a3, 24(sp)\n"
    "  sd a4, 32(sp)\n"
    "  sd a5, 40(sp)\n"
    "  sd a6, 48(sp)\n"
    "  sd a7, 56(sp)\n"
#if defined(__riscv_flen) && __riscv_flen >= 64
    "  fsd fa0, 64(sp)\n"
    "  fsd fa1, 72(sp)\n"
    "  fsd fa2, 80(sp)\n"
    "  fsd fa3, 88(sp)\n"
    "  fsd fa4, 96(sp)\n"
    "  fsd fa5, 104(sp)\n"
    "  fsd fa6, 112(sp)\n"
    "  fsd fa7, 120(sp)\n"
#endif
    "  mv a0, t1\n"
    "  sext.w a1, t0\n"
    "  call jitcm_lazy_dispatch\n"
    "  mv t1, a0\n"
#if defined(__riscv_flen) && __riscv_flen >= 64
    "  fld fa0, 64(sp)\n"
    "  fld fa1, 72(sp)\n"
    "  fld fa2, 80(sp)\n"
    "  fld fa3, 88(sp)\n"
    "  fld fa4, 96(sp)\n"
    "  fld fa5, 104(sp)\n"
    "  fld fa6, 112(sp)\n"
    "  fld fa7, 120(sp)\n"
#endif
    "  ld a0, 0(sp)\n"
    "  ld a1, 8(sp)\n"
    "  ld a2, 16(sp)\n"
    "  ld a3, 24(sp)\n"
    "  ld a4, 32(sp)\n"
    "  ld a5, 40(sp)\n"
    "  ld a6, 48(sp)\n"
    "  ld a7, 56(sp)\n"
    "  ld ra, 136(sp)\n"
    "  addi sp, sp, 144\n"
    "  .cfi_def_cfa_offset 0\n"
    "  jr t1\n" JITCM_DETAIL_TRAMPOLINE_EPILOGUE);
#endif

#undef JITCM_DETAIL_TRAMPOLINE_PROLOGUE
#undef JITCM_DETAIL_TRAMPOLINE_EPILOGUE
#endif

namespace jitcm::jump_table {

#if defined(JITCM_HAS_LAZY_TRAMPOLINE)
inline constexpr bool has_lazy_trampoline = true;
#else
inline constexpr bool has_lazy_trampoline = false;
#endif

/// Installs `handler` as the process-wide lazy-compile handler (replacing any
/// earlier one) and returns the entry address to pass to initialize().
/// Errors: invalid_argument (null handler), unsupported (no trampoline for
/// this platform; see has_lazy_trampoline).
/// Thread safety: any thread; a lazy call already in the trampoline may
/// still run the previous handler.
[[nodiscard]] inline result<std::uintptr_t> lazy_trampoline(lazy_handler handler) noexcept;

/// The trampoline's second door, for entries that pass a
/// `const lazy_compile_callback*` in the scratch register each emitter's
/// `encode_context_entry` loads (r11, x9, t1) besides the index. Errors:
/// unsupported (no trampoline for this platform).
[[nodiscard]] inline result<std::uintptr_t> lazy_context_trampoline() noexcept {
#if defined(JITCM_HAS_LAZY_TRAMPOLINE)
  return reinterpret_cast<std::uintptr_t>(&jitcm_lazy_context_trampoline);
#else
  return failure{errc::unsupported};
#endif
}

inline result<std::uintptr_t> lazy_trampoline(lazy_handler handler) noexcept {
  if (handler == nullptr) return failure{errc::invalid_argument};
#if defined(JITCM_HAS_LAZY_TRAMPOLINE)
  detail::installed_lazy_handler.store(handler, std::memory_order_release);
  return reinterpret_cast<std::uintptr_t>(&jitcm_lazy_trampoline);
#else
  return failure{errc::unsupported};
#endif
}

}  // namespace jitcm::jump_table
