// The fault signals (SIGSEGV, SIGBUS): installing a process-wide handler and
// putting back what was there, handing a fault on to the disposition that was
// there before, and per-thread alternate signal stacks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../base/result.hpp"

#if !defined(JITCM_OS_WINDOWS)
#include <pthread.h>
#include <signal.h>
#endif

namespace jitcm::platform {

#if !defined(JITCM_OS_WINDOWS)

/// A SA_SIGINFO handler.
using fault_handler = void (*)(int signal, siginfo_t* info, void* context);

/// The dispositions of SIGSEGV and SIGBUS, as sigaction reports them.
struct fault_dispositions {
  struct sigaction segv {};
  struct sigaction bus {};

  [[nodiscard]] const struct sigaction& of(int signal) const noexcept { return signal == SIGBUS ? bus : segv; }
};

/// Whether the kernel raised the signal for a fault of the thread (a
/// positive si_code), rather than kill, raise or sigqueue sending it (SI_USER,
/// or a negative si_code). Async-signal-safe.
[[nodiscard]] inline bool raised_by_kernel(const siginfo_t* info) noexcept {
  return info != nullptr && info->si_code > 0;
}

/// The current dispositions of SIGSEGV and SIGBUS. Errors: the OS's errno.
[[nodiscard]] JITCM_DECL result<fault_dispositions> current_fault_dispositions() noexcept;

/// Installs `handler` for SIGSEGV and SIGBUS with SA_SIGINFO | SA_ONSTACK
/// (on the thread's alternate stack when it has one) and both signals
/// blocked while it runs; returns what was there. On error nothing changed.
/// Not async-signal-safe in spirit (callers serialise it); thread-safe as
/// sigaction is.
[[nodiscard]] JITCM_DECL result<fault_dispositions> install_fault_handler(fault_handler handler) noexcept;

/// Puts back dispositions `install_fault_handler` returned, exactly (handler,
/// flags and mask). Errors: the OS's errno.
[[nodiscard]] JITCM_DECL result<void> restore_fault_dispositions(const fault_dispositions& saved) noexcept;

/// Whether `handler` is the SA_SIGINFO handler of both fault signals now.
[[nodiscard]] JITCM_DECL bool fault_handler_installed(fault_handler handler) noexcept;

/// Hands a fault to `previous`, the disposition that was there before ours,
/// as the kernel would have: a SA_SIGINFO handler gets the original siginfo
/// and context, a plain handler the signal number, each with its own mask
/// added while it runs (and SA_RESETHAND honoured: the disposition becomes
/// SIG_DFL first). SIG_DFL ends the process with the signal's default
/// action (core dump included). SIG_IGN ignores a sent signal; a fault the
/// kernel raised cannot be ignored (the instruction would fault forever), so
/// the kernel's rule applies: the default action. Async-signal-safe.
JITCM_DECL void forward_fault(const struct sigaction& previous, int signal, siginfo_t* info, void* context) noexcept;

/// Makes `stack` (committed read-write memory) the calling thread's
/// alternate signal stack; returns the one it had. Errors: invalid_argument
/// (smaller than MINSIGSTKSZ), the OS's errno (EPERM while running on the
/// current alternate stack).
[[nodiscard]] JITCM_DECL result<stack_t> set_alternate_signal_stack(address_region stack) noexcept;

/// Puts back an alternate signal stack `set_alternate_signal_stack`
/// returned. Errors: the OS's errno.
[[nodiscard]] JITCM_DECL result<void> restore_alternate_signal_stack(const stack_t& previous) noexcept;

#endif  // !JITCM_OS_WINDOWS

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/signals.ipp"  // IWYU pragma: export
#endif
