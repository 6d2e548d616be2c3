// What a tier is, and how code compiled for a debugger is marked.
#pragma once

#include <cstdint>

namespace jitcm {

/// How good (and how expensive to produce) a piece of code is: higher values
/// are better code. jitcm gives the values no names of its own: a tiering
/// policy names the ones it uses (`tiering::two_tier::baseline`,
/// `tiering::v8::turbofan`, ...), so a JIT with three tiers says
/// `inline constexpr jitcm::tier interpreter{0}, baseline{1}, optimized{2};`.
/// Values compare with < and ==, as the policies need. `tier{0}` is the value
/// of code that has no tier (wrappers, trampolines, jump tables).
enum class tier : std::uint8_t {};

/// Whether code was compiled for a debugger, ordered as V8's `ForDebugging`:
/// every later value is "more for debugging" than the ones before it.
enum class debug_kind : std::uint8_t {
  none,              ///< ordinary code
  for_debugging,     ///< code a debugger can inspect (the debug flag)
  with_breakpoints,  ///< debug code with breakpoints compiled in
  for_stepping,      ///< code for a single frame being stepped through; never installed
};

}  // namespace jitcm
