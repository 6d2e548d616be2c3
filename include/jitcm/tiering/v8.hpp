// tiering::v8: V8's WebAssembly tiering rules (Liftoff and TurboFan).
#pragma once

#include <cstdint>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "debug_state.hpp"

namespace jitcm::tiering {

/// The rules of V8's `NativeModule::should_update_code_table` and
/// `ShouldRemoveCode`, with Liftoff as tier 1 and TurboFan as tier 2.
///
/// `should_install(candidate, installed, state)`:
/// 1. stepping code is never installed (it serves a single frame);
/// 2. while debugging only debug code is installed, and code with
///    breakpoints is not replaced by plain debug code (`debug_kind` is
///    ordered: a candidate is refused if the installed code is "more for
///    debugging");
/// 3. a lower tier never replaces non-debug code of a higher tier;
/// 4. otherwise the candidate is installed (so non-debug code replaces debug
///    code once debugging ends, and equal tiers replace each other).
///
/// Rule 3 holds while debugging too, so, as V8 does when a debugger
/// attaches, set `debugging` and remove non-debug code
/// (`removal_filter::non_debug_code`) so that functions recompile as debug
/// code.
///
/// Removal filters (`NativeModule::RemoveFilter`): all, debug code,
/// non-debug code, Liftoff code, TurboFan code. A memory-pressure flush
/// removes Liftoff code, as V8's `--flush-liftoff-code` does.
///
/// Thread safety: stateless; every member is pure and callable from any
/// thread.
class v8 {
 public:
  static constexpr jitcm::tier liftoff{1};
  static constexpr jitcm::tier turbofan{2};

  using module_state = debug_state;

  enum class removal_filter : std::uint8_t { all, debug_code, non_debug_code, liftoff_code, turbofan_code };

  [[nodiscard]] bool should_install(const code& candidate, const code* installed,
                                    const module_state& state) const noexcept;

  /// Function code must be Liftoff or TurboFan.
  [[nodiscard]] constexpr bool knows_tier(jitcm::tier t) const noexcept { return t == liftoff || t == turbofan; }

  [[nodiscard]] bool should_remove(const code& installed, removal_filter filter) const noexcept;

  [[nodiscard]] constexpr removal_filter memory_pressure_filter() const noexcept {
    return removal_filter::liftoff_code;
  }
};

}  // namespace jitcm::tiering

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/v8.ipp"  // IWYU pragma: export
#endif
