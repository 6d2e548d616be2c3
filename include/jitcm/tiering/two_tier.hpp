// tiering::two_tier: the default tiering policy — a baseline and an optimizing
// tier, plus a debug flag.
#pragma once

#include <optional>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "debug_state.hpp"

namespace jitcm::tiering {

/// Two tiers and a debug flag: the newest code of the best tier wins; while a
/// debugger is attached only debug code is installed (the newest debug code
/// wins, whatever its tier). Compared with `tiering::v8` the debug flag is
/// one bit (breakpoint code has no precedence over other debug code) and the
/// memory-pressure flush keeps debug code, so breakpoints survive it.
///
/// Rules of `should_install(candidate, installed, state)`, in order:
/// 1. stepping code (`debug_kind::for_stepping`) is never installed;
/// 2. while debugging: only debug code is installed, and it always is;
/// 3. otherwise: installed when nothing is installed, when the installed code
///    is debug code (leaving a debugging session), or when the candidate's
///    tier is at least the installed tier (re-optimization replaces code of
///    the same tier).
///
/// Thread safety: stateless; every member is pure and callable from any
/// thread.
class two_tier {
 public:
  static constexpr jitcm::tier baseline{1};
  static constexpr jitcm::tier optimized{2};

  using module_state = debug_state;

  /// Code matching every set field is removed: `{}` removes everything,
  /// `{.tier = baseline}` all baseline code,
  /// `{.tier = baseline, .debug = false}` baseline code that is not debug code.
  struct removal_filter {
    std::optional<jitcm::tier> tier;  ///< only code of this tier
    std::optional<bool> debug;        ///< only debug code (true) or only non-debug code (false)

    static constexpr removal_filter all() noexcept { return {}; }
    static constexpr removal_filter debug_code() noexcept { return {std::nullopt, true}; }
    static constexpr removal_filter non_debug_code() noexcept { return {std::nullopt, false}; }
    static constexpr removal_filter baseline_code() noexcept { return {baseline, std::nullopt}; }
    static constexpr removal_filter optimized_code() noexcept { return {optimized, std::nullopt}; }
  };

  [[nodiscard]] bool should_install(const code& candidate, const code* installed,
                                    const module_state& state) const noexcept;

  /// Function code must be baseline or optimized.
  [[nodiscard]] constexpr bool knows_tier(jitcm::tier t) const noexcept { return t == baseline || t == optimized; }

  [[nodiscard]] bool should_remove(const code& installed, const removal_filter& filter) const noexcept;

  /// Baseline code that is not debug code: the cheapest to recompile
  /// lazily, and not what a debugging session relies on.
  [[nodiscard]] constexpr removal_filter memory_pressure_filter() const noexcept { return {baseline, false}; }
};

}  // namespace jitcm::tiering

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/two_tier.ipp"  // IWYU pragma: export
#endif
