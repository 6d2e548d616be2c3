// Stopping the program on a mistake that cannot be reported as an error.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace jitcm::detail {

/// Prints `message` (one line naming the mistake) to stderr and aborts. For
/// programming errors that no caller could handle, such as destroying a code
/// manager whose modules still live: going on would be undefined behaviour.
[[noreturn]] inline void fatal(const char* message) noexcept {
  std::fputs(message, stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace jitcm::detail
