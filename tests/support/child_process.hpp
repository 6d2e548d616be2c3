// Running a piece of a test in a forked child, for behaviour that kills the
// process (a write to a read-execute page).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

namespace jitcm::testing {

struct child_outcome {
  bool exited = false;
  int exit_code = 0;
  bool signalled = false;
  int signal = 0;
};

/// Runs `body` in a child process and reports how it ended.
template <class Body>
child_outcome run_in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Sanitizers install fault handlers that report and exit; the test wants
    // the plain signal.
    std::signal(SIGSEGV, SIG_DFL);
    std::signal(SIGBUS, SIG_DFL);
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

}  // namespace jitcm::testing
