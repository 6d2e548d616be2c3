// Placing a reservation inside a preferred address range: code that calls
// its runtime (or is called from it) with a direct branch must lie within
// the branch's reach of it: ±2 GiB for an x86-64 rel32 call, ±128 MiB for
// an AArch64 `bl`, ±1 MiB for a RISC-V `jal`.
//
// | expression                                      | result                  | guarantees |
// |-------------------------------------------------|-------------------------|------------|
// | `within_reach(runtime, reach)`                  | `address_region`        | every byte of it is within `reach` of every byte of `runtime`; empty when nothing is |
// | `reserve_preferring(range, bytes, align, rsv)`  | `result<placed<Space>>` | tries hints inside `range` first, then anywhere; `.where` says which it got |
// | `placement_of(region, range)`                   | `placement`             | `anywhere` for an empty range, else whether `region` lies inside it |
//
// Example: code spaces a runtime in this binary reaches with rel32 calls.
//
//   const auto me = reinterpret_cast<std::uintptr_t>(&runtime_entry);
//   auto range = platform::within_reach({me, 1}, platform::x64_rel32_reach - runtime_size);
//   auto space = platform::reserve_preferring(range, 64 << 20, 0, [](std::uintptr_t hint) {
//     return platform::reservation::reserve(64 << 20, hint);
//   });
//   if (space && space->where == platform::placement::preferred) { /* rel32 calls reach */ }
//
// Thread safety: every function from any thread; another thread mapping
// memory at the same time may take a hinted range first (the next hint is
// tried).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "../base/address_region.hpp"
#include "../base/result.hpp"
#include "placement_and_backing.hpp"
#include "virtual_memory.hpp"

namespace jitcm::platform {

/// Reach of the direct branches JITs place code for.
inline constexpr std::size_t x64_rel32_reach = (std::size_t{1} << 31) - 1;
inline constexpr std::size_t arm64_bl_reach = std::size_t{128} << 20;
inline constexpr std::size_t riscv64_jal_reach = std::size_t{1} << 20;

/// The addresses within `reach` bytes of every byte of `runtime` (a branch
/// from anywhere in one reaches anywhere in the other), clipped to the
/// address space above the first page. Empty when `runtime` is larger
/// than `reach`, or empty itself.
[[nodiscard]] JITCM_DECL address_region within_reach(address_region runtime, std::size_t reach) noexcept;

/// `anywhere` when `preferred` is empty, else whether `region` lies in it.
[[nodiscard]] JITCM_DECL placement placement_of(address_region region, address_region preferred) noexcept;

/// A reservation and where it landed.
template <class Space>
struct placed {
  Space space;
  placement where = placement::anywhere;
};

namespace detail {

/// Hints tried inside a range before giving up on it: enough to step past
/// the binary, its heap and the libraries that usually sit in the range.
inline constexpr std::size_t max_placement_hints = 64;

/// The `attempt`-th hint for `bytes` in `range`: the middle first, then
/// alternately above and below it, `step` bytes further out each time;
/// 0 once both directions leave the range.
[[nodiscard]] JITCM_DECL std::uintptr_t placement_hint(address_region range, std::size_t bytes, std::size_t step,
                                                       std::size_t alignment, std::size_t attempt) noexcept;

}  // namespace detail

/// Reserves with `reserve(hint)` (a callable returning `result<Space>` for
/// a Space with `region()`, such as reservation::reserve or a W^X
/// strategy's reserve) at hints inside `preferred` until one lands inside
/// it; reservations that land elsewhere are dropped at once. Then, unless
/// `required`, once more without a hint. `bytes` and `alignment` (0: the
/// allocation granularity) are what `reserve` will be asked for.
/// Errors: address_space_exhausted when `required` and nothing landed in
/// the range; `reserve`'s error when it fails otherwise than for lack of
/// room.
template <class Reserve>
[[nodiscard]] auto reserve_preferring(address_region preferred, std::size_t bytes, std::size_t alignment,
                                      Reserve reserve, bool required = false)
    -> result<placed<typename std::invoke_result_t<Reserve&, std::uintptr_t>::value_type>> {
  using space_type = typename std::invoke_result_t<Reserve&, std::uintptr_t>::value_type;
  if (!preferred.empty() && bytes != 0 && bytes <= preferred.size()) {
    const std::size_t granularity = std::max(allocation_granularity(), alignment);
    const std::size_t spread = (preferred.size() - bytes) / detail::max_placement_hints;
    const std::size_t step = (std::max(bytes, spread) + granularity - 1) & ~(granularity - 1);
    for (std::size_t attempt = 0; attempt < detail::max_placement_hints; ++attempt) {
      const std::uintptr_t hint = detail::placement_hint(preferred, bytes, step, granularity, attempt);
      if (hint == 0) continue;
      auto space = reserve(hint);
      if (!space) {
        if (space.error() == make_error_code(errc::address_space_exhausted)) continue;
        return forward_error(space);
      }
      if (preferred.contains(space->region())) return placed<space_type>{std::move(*space), placement::preferred};
    }
  }
  if (required && !preferred.empty()) return failure{errc::address_space_exhausted};
  auto space = reserve(0);
  if (!space) return forward_error(space);
  const placement where = placement_of(space->region(), preferred);
  return placed<space_type>{std::move(*space), where};
}

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/placement.ipp"  // IWYU pragma: export
#endif
