// Running a piece of a test in a forked child, for behaviour that kills the
// process (a write to a read-execute page). Windows has no fork: there the
// piece runs on a thread of its own, and an access violation on that thread
// ends the thread (through a vectored exception handler) instead of the
// process, reported as SIGSEGV.
#pragma once

#include <csignal>

#if defined(_WIN32)
#include <jitcm/platform/detail/windows_api.hpp>
#else
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace jitcm::testing {

struct child_outcome {
  bool exited = false;
  int exit_code = 0;
  bool signalled = false;
  int signal = 0;
};

#if defined(_WIN32)

namespace detail {

// The thread running a piece, and whether it faulted; one piece at a time.
inline DWORD piece_thread = 0;
inline bool piece_faulted = false;

[[noreturn]] inline void end_faulted_piece() {
  piece_faulted = true;
  ExitThread(1);
}

inline LONG CALLBACK end_piece_on_fault(EXCEPTION_POINTERS* exception) {
  if (GetCurrentThreadId() != piece_thread || exception->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION) {
    return EXCEPTION_CONTINUE_SEARCH;
  }
  // Resume in end_faulted_piece, on a stack aligned as at a call.
  exception->ContextRecord->Rip = reinterpret_cast<DWORD64>(&end_faulted_piece);
  exception->ContextRecord->Rsp = (exception->ContextRecord->Rsp & ~DWORD64{15}) - 8;
  return EXCEPTION_CONTINUE_EXECUTION;
}

}  // namespace detail

/// Runs `body` on a thread of its own and reports how it ended: a fault
/// ends the thread and reads as death by SIGSEGV. `body` must not exit the
/// process (a child's `_exit` would end the whole test here).
template <class Body>
child_outcome run_in_child(Body body) {
  detail::piece_faulted = false;
  PVOID handler = AddVectoredExceptionHandler(1, &detail::end_piece_on_fault);
  HANDLE thread = CreateThread(
      nullptr, 0,
      [](LPVOID piece) -> DWORD {
        detail::piece_thread = GetCurrentThreadId();
        (*static_cast<Body*>(piece))();
        return 0;
      },
      &body, 0, nullptr);
  WaitForSingleObject(thread, INFINITE);
  DWORD code = 0;
  GetExitCodeThread(thread, &code);
  CloseHandle(thread);
  RemoveVectoredExceptionHandler(handler);
  detail::piece_thread = 0;
  child_outcome outcome;
  outcome.signalled = detail::piece_faulted;
  outcome.signal = outcome.signalled ? SIGSEGV : 0;
  outcome.exited = !outcome.signalled;
  outcome.exit_code = static_cast<int>(code);
  return outcome;
}

/// True when the piece died of a memory-protection fault.
inline bool died_of_fault(const child_outcome& outcome) { return outcome.signalled && outcome.signal == SIGSEGV; }

#else

/// Runs `body` in a child process and reports how it ended.
template <class Body>
child_outcome run_in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Sanitizers install fault handlers that report and exit, and Catch one
    // for SIGABRT that is not async-signal-safe (TSan reports it); the test
    // wants the plain signal.
    std::signal(SIGSEGV, SIG_DFL);
    std::signal(SIGBUS, SIG_DFL);
    std::signal(SIGABRT, SIG_DFL);
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  child_outcome outcome;
  outcome.exited = WIFEXITED(status);
  if (outcome.exited) outcome.exit_code = WEXITSTATUS(status);
  outcome.signalled = WIFSIGNALED(status);
  if (outcome.signalled) outcome.signal = WTERMSIG(status);
  return outcome;
}

/// True when the child died of a memory-protection fault.
inline bool died_of_fault(const child_outcome& outcome) {
  return outcome.signalled && (outcome.signal == SIGSEGV || outcome.signal == SIGBUS);
}

#endif  // _WIN32

}  // namespace jitcm::testing
