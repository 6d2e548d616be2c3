// Definitions of <jitcm/platform/signals.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <cerrno>

#include "../signals.hpp"

#if !defined(JITCM_OS_WINDOWS)

namespace jitcm::platform {

namespace detail {

[[nodiscard]] inline result<void> set_disposition(int signal, const struct sigaction& action,
                                                  struct sigaction* previous) noexcept {
  if (::sigaction(signal, &action, previous) != 0) return system_failure(errno);
  return {};
}

inline void reset_to_default_action(int signal) noexcept {
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  (void)::sigaction(signal, &fallback, nullptr);
}

/// Ends the process with `signal`'s default action (terminate and dump
/// core), as if no handler had ever been installed. A fault the kernel
/// raised happens again when the handler returns and meets SIG_DFL; a sent
/// signal is sent again and delivered once the handler returns.
inline void die_by_default_action(int signal, const siginfo_t* info) noexcept {
  reset_to_default_action(signal);
  if (!raised_by_kernel(info)) (void)::raise(signal);
}

}  // namespace detail

JITCM_DECL result<fault_dispositions> current_fault_dispositions() noexcept {
  fault_dispositions now;
  if (::sigaction(SIGSEGV, nullptr, &now.segv) != 0 || ::sigaction(SIGBUS, nullptr, &now.bus) != 0) {
    return system_failure(errno);
  }
  return now;
}

JITCM_DECL result<fault_dispositions> install_fault_handler(fault_handler handler) noexcept {
  auto previous = current_fault_dispositions();
  if (!previous) return previous;
  struct sigaction action {};
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGSEGV);
  sigaddset(&action.sa_mask, SIGBUS);
  if (auto ok = detail::set_disposition(SIGSEGV, action, nullptr); !ok) return forward_error(ok);
  if (auto ok = detail::set_disposition(SIGBUS, action, nullptr); !ok) {
    (void)detail::set_disposition(SIGSEGV, previous->segv, nullptr);
    return forward_error(ok);
  }
  return previous;
}

JITCM_DECL result<void> restore_fault_dispositions(const fault_dispositions& saved) noexcept {
  if (auto ok = detail::set_disposition(SIGSEGV, saved.segv, nullptr); !ok) return ok;
  return detail::set_disposition(SIGBUS, saved.bus, nullptr);
}

JITCM_DECL bool fault_handler_installed(fault_handler handler) noexcept {
  auto now = current_fault_dispositions();
  const auto is_handler = [handler](const struct sigaction& a) {
    return (a.sa_flags & SA_SIGINFO) != 0 && a.sa_sigaction == handler;
  };
  return now && is_handler(now->segv) && is_handler(now->bus);
}

JITCM_DECL void forward_fault(const struct sigaction& previous, int signal, siginfo_t* info, void* context) noexcept {
  const bool with_info = (previous.sa_flags & SA_SIGINFO) != 0;
  if (!with_info && (previous.sa_handler == SIG_DFL || (previous.sa_handler == SIG_IGN && raised_by_kernel(info)))) {
    detail::die_by_default_action(signal, info);
    return;
  }
  if (!with_info && previous.sa_handler == SIG_IGN) return;
  // A one-shot handler: the kernel would have reset it before the call.
  if ((previous.sa_flags & SA_RESETHAND) != 0) detail::reset_to_default_action(signal);
  sigset_t before;
  (void)::pthread_sigmask(SIG_BLOCK, &previous.sa_mask, &before);
  if (with_info) {
    previous.sa_sigaction(signal, info, context);
  } else {
    previous.sa_handler(signal);
  }
  (void)::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

JITCM_DECL result<stack_t> set_alternate_signal_stack(address_region stack) noexcept {
  if (stack.size() < static_cast<std::size_t>(MINSIGSTKSZ)) return failure{errc::invalid_argument};
  stack_t wanted{};
  wanted.ss_sp = stack.pointer();
  wanted.ss_size = stack.size();
  stack_t previous{};
  if (::sigaltstack(&wanted, &previous) != 0) return system_failure(errno);
  return previous;
}

JITCM_DECL result<void> restore_alternate_signal_stack(const stack_t& previous) noexcept {
  if (::sigaltstack(&previous, nullptr) != 0) return system_failure(errno);
  return {};
}

}  // namespace jitcm::platform

#endif  // !JITCM_OS_WINDOWS
