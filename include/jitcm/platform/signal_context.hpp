// The registers of a thread stopped by a signal, as the kernel saved them:
// read the program counter, and change where the thread resumes and what it
// finds in its argument registers when the handler returns.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../base/config.hpp"

#if !defined(JITCM_OS_WINDOWS)
#include <ucontext.h>
#endif

namespace jitcm::platform {

#if !defined(JITCM_OS_WINDOWS)

/// A view of the `ucontext_t` a SA_SIGINFO handler receives as its third
/// argument. Changes take effect when the handler returns: the kernel
/// restores the thread from this context.
///
/// | expression          | result          | guarantees |
/// |---------------------|-----------------|------------|
/// | `signal_context{p}` |                 | `p` is the handler's `void*` context; nothing is copied |
/// | `c.pc()`            | `std::uintptr_t`| the address of the instruction that faulted (or would run next, for an asynchronous signal) |
/// | `c.set_pc(a)`       | `void`          | the thread resumes at `a` |
/// | `c.argument(i)`     | `std::uintptr_t`| integer argument register `i` of the C calling convention (`i < argument_registers`) |
/// | `c.set_argument(i, v)` | `void`       | the thread resumes with `v` in that register |
///
/// Argument registers: x86-64 rdi, rsi, rdx, rcx, r8, r9; AArch64 x0–x5;
/// RISC-V 64 a0–a5.
///
///     void on_fault(int, siginfo_t* info, void* raw) {
///       jitcm::platform::signal_context context{raw};
///       context.set_argument(0, context.pc());
///       context.set_pc(recovery_code);
///     }
///
/// Thread safety: a view of one thread's saved registers, used by the handler
/// running on that thread; async-signal-safe (plain loads and stores).
class signal_context {
 public:
  static constexpr std::size_t argument_registers = 6;

  explicit signal_context(void* ucontext) noexcept : context_{static_cast<ucontext_t*>(ucontext)} {}

  [[nodiscard]] std::uintptr_t pc() const noexcept { return static_cast<std::uintptr_t>(pc_register()); }
  void set_pc(std::uintptr_t address) noexcept { pc_register() = static_cast<register_type>(address); }

  [[nodiscard]] std::uintptr_t argument(std::size_t i) const noexcept {
    return static_cast<std::uintptr_t>(argument_register(i));
  }
  void set_argument(std::size_t i, std::uintptr_t value) noexcept {
    argument_register(i) = static_cast<register_type>(value);
  }

 private:
#if defined(JITCM_ARCH_X64)
  using register_type = greg_t;
  [[nodiscard]] register_type& pc_register() const noexcept { return context_->uc_mcontext.gregs[REG_RIP]; }
  [[nodiscard]] register_type& argument_register(std::size_t i) const noexcept {
    static constexpr int order[argument_registers] = {REG_RDI, REG_RSI, REG_RDX, REG_RCX, REG_R8, REG_R9};
    return context_->uc_mcontext.gregs[order[i]];
  }
#elif defined(JITCM_ARCH_ARM64)
  using register_type = unsigned long long;
  [[nodiscard]] register_type& pc_register() const noexcept { return context_->uc_mcontext.pc; }
  [[nodiscard]] register_type& argument_register(std::size_t i) const noexcept { return context_->uc_mcontext.regs[i]; }
#elif defined(JITCM_ARCH_RISCV64)
  // glibc's __gregs: [0] is the pc, [n] is x<n>; a0 is x10.
  using register_type = unsigned long;
  static constexpr std::size_t pc_index = 0;
  static constexpr std::size_t a0_index = 10;
  [[nodiscard]] register_type& pc_register() const noexcept { return context_->uc_mcontext.__gregs[pc_index]; }
  [[nodiscard]] register_type& argument_register(std::size_t i) const noexcept {
    return context_->uc_mcontext.__gregs[a0_index + i];
  }
#else
#error "jitcm::platform::signal_context knows the saved registers of x86-64, AArch64 and RISC-V 64 only"
#endif

  ucontext_t* context_;
};

#endif  // !JITCM_OS_WINDOWS

}  // namespace jitcm::platform
