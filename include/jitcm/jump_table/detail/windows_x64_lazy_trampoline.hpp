// The lazy-compile trampoline for the Windows x64 calling convention (COFF,
// MinGW-w64), included by lazy_trampoline.hpp in place of the System V one.
//
// The doors are the same as on Linux: the first with the index in r10d and
// no context (r11 cleared), the second with the index in r10d and the
// module's `const lazy_compile_callback*` in r11; both registers are
// volatile in this convention, so a slot may clobber them.
//
// What differs is what must survive the handler: the argument registers
// here are rcx, rdx, r8 and r9 and xmm0-xmm3 (xmm0-xmm5 with __vectorcall,
// so those are kept too); arguments past the fourth lie on the caller's
// stack above its 32-byte shadow space, which the trampoline leaves alone.
// xmm6-xmm15, rbx, rbp, rdi, rsi and r12-r15 are callee-saved: the handler,
// a C++ function, keeps them itself. The handler is called with its own
// 32 bytes of shadow space and a 16-byte aligned stack.
//
// Frame (rsp after the prologue, 16-byte aligned: entered by a jump, so the
// caller's return address leaves rsp 8 off alignment and 168 restores it):
//   [0, 32)    the handler's shadow space
//   [32, 128)  xmm0-xmm5
//   [128, 160) rcx, rdx, r8, r9
// The .seh directives describe the frame to the Windows unwinder, so stack
// walks (debuggers, profilers, RtlVirtualUnwind) pass through it.
#pragma once

// One copy per program: COMDAT sections the linker deduplicates (with their
// .pdata/.xdata), as it does for inline functions. Each door has a section
// of its own and starts it: GNU as resolves a reference to a global symbol
// that lies past the start of a COMDAT section with its offset counted
// twice, so the first door jumps to the second instead of falling into it.
// COFF has no .pushsection: GCC emits top-level asm before any code, in
// .text, which the last line switches back to.
asm(".section .text$jitcm_lazy_context_trampoline,\"xr\"\n"
    ".linkonce discard\n"
    ".globl jitcm_lazy_context_trampoline\n"
    ".def jitcm_lazy_context_trampoline; .scl 2; .type 32; .endef\n"
    ".p2align 4\n"
    "jitcm_lazy_context_trampoline:\n"
    ".seh_proc jitcm_lazy_context_trampoline\n"
    "  subq $168, %rsp\n"
    "  .seh_stackalloc 168\n"
    "  .seh_endprologue\n"
    "  movaps %xmm0, 32(%rsp)\n"
    "  movaps %xmm1, 48(%rsp)\n"
    "  movaps %xmm2, 64(%rsp)\n"
    "  movaps %xmm3, 80(%rsp)\n"
    "  movaps %xmm4, 96(%rsp)\n"
    "  movaps %xmm5, 112(%rsp)\n"
    "  movq %rcx, 128(%rsp)\n"
    "  movq %rdx, 136(%rsp)\n"
    "  movq %r8, 144(%rsp)\n"
    "  movq %r9, 152(%rsp)\n"
    "  movq %r11, %rcx\n"
    "  movl %r10d, %edx\n"
    "  call jitcm_lazy_dispatch\n"
    "  movq %rax, %r11\n"
    "  movaps 32(%rsp), %xmm0\n"
    "  movaps 48(%rsp), %xmm1\n"
    "  movaps 64(%rsp), %xmm2\n"
    "  movaps 80(%rsp), %xmm3\n"
    "  movaps 96(%rsp), %xmm4\n"
    "  movaps 112(%rsp), %xmm5\n"
    "  movq 128(%rsp), %rcx\n"
    "  movq 136(%rsp), %rdx\n"
    "  movq 144(%rsp), %r8\n"
    "  movq 152(%rsp), %r9\n"
    "  addq $168, %rsp\n"
    "  jmp *%r11\n"
    ".seh_endproc\n"
    ".section .text$jitcm_lazy_trampoline,\"xr\"\n"
    ".linkonce discard\n"
    ".globl jitcm_lazy_trampoline\n"
    ".def jitcm_lazy_trampoline; .scl 2; .type 32; .endef\n"
    ".p2align 4\n"
    "jitcm_lazy_trampoline:\n"
    "  xorl %r11d, %r11d\n"
    "  jmp jitcm_lazy_context_trampoline\n"
    ".text\n");
