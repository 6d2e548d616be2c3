// JITCM_ASSERT: stated preconditions and invariants, checked in debug builds.
//
// | expression                 | result | guarantees |
// |----------------------------|--------|------------|
// | `JITCM_ASSERT(cond)`       | `void` | debug builds (NDEBUG not defined, or JITCM_ENABLE_ASSERTS defined): when `cond` is false, stops the program with one line naming the condition, file and line (detail::fatal). Release builds: `cond` is not evaluated |
// | `JITCM_ASSERT_CLEANUP(result)` | `void` | `result` (a jitcm::result of a call on a cleanup path, where no caller can be told) is always evaluated; debug builds stop the program when its error names a misuse (not_owned, double_free, out_of_range, ...), which on a cleanup path means jitcm's bookkeeping contradicts itself. Running out (out_of_memory, limit_exceeded) or an error from the OS (a refused decommit or protection change) is accepted: the resource stays held, which is safe |
//
//   JITCM_ASSERT(index < functions);                       // a stated precondition
//   JITCM_ASSERT_CLEANUP(allocator_.free(block));          // giving back what was never published
#pragma once

#include <cstdio>
#include <system_error>

#include "../base/error.hpp"
#include "fatal.hpp"

namespace jitcm::detail {

[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) noexcept {
  char message[512];
  std::snprintf(message, sizeof message, "jitcm: assertion failed: %s (%s:%d)", condition, file, line);
  fatal(message);
}

/// Whether a cleanup step's error names a misuse (a block not owned, freed
/// twice, out of range...): on a cleanup path jitcm made the call itself, so
/// such an error means its bookkeeping contradicts itself. Running out of
/// something, or the OS refusing, is no contradiction.
[[nodiscard]] inline bool contradicts_bookkeeping(const std::error_code& error) noexcept {
  if (!error || error.category() != error_category()) return false;
  switch (static_cast<errc>(error.value())) {
    case errc::invalid_argument:
    case errc::size_overflow:
    case errc::misaligned:
    case errc::out_of_range:
    case errc::overlapping_region:
    case errc::not_owned:
    case errc::double_free:
    case errc::already_unmapped:
    case errc::already_published:
      return true;
    default:
      return false;
  }
}

template <class Result>
[[nodiscard]] std::error_code error_of(const Result& outcome) noexcept {
  return outcome ? std::error_code{} : outcome.error();
}

}  // namespace jitcm::detail

#if !defined(NDEBUG) || defined(JITCM_ENABLE_ASSERTS)
#define JITCM_ASSERT(cond) \
  (static_cast<bool>(cond) ? static_cast<void>(0) : ::jitcm::detail::assertion_failed(#cond, __FILE__, __LINE__))
#define JITCM_ASSERT_CLEANUP(outcome)                                                         \
  (::jitcm::detail::contradicts_bookkeeping(::jitcm::detail::error_of(outcome))               \
       ? ::jitcm::detail::assertion_failed("cleanup succeeds: " #outcome, __FILE__, __LINE__) \
       : static_cast<void>(0))
#else
#define JITCM_ASSERT(cond) static_cast<void>(0)
#define JITCM_ASSERT_CLEANUP(outcome) static_cast<void>(outcome)
#endif
