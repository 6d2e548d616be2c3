// lookup::sorted_map: V8's code lookup — a map keyed by start address under a
// mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "../base/result.hpp"

namespace jitcm::lookup {

/// The baseline lookup, as V8's `WasmCodeManager::lookup_map_`: a
/// `std::map` from each code's start address to the code, searched with
/// `upper_bound` and one step back. O(log n) for every operation.
///
/// Thread safety: every member takes the one mutex, so all may be called
/// concurrently from any thread; `find` blocks and therefore is not
/// async-signal-safe (use `lookup::lock_free_array` for signal handlers).
/// Node allocation follows the standard library: under -fno-exceptions an
/// exhausted heap terminates in `insert`.
class sorted_map {
 public:
  sorted_map() = default;
  sorted_map(const sorted_map&) = delete;
  sorted_map& operator=(const sorted_map&) = delete;

  /// Errors: invalid_argument (null), overlapping_region.
  [[nodiscard]] result<void> insert(const code* c);

  /// Errors: not_owned (`c` is not in the map).
  [[nodiscard]] result<void> erase(const code* c);

  [[nodiscard]] const code* find(std::uintptr_t pc) const;

  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, const code*> codes_;
};

}  // namespace jitcm::lookup

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/sorted_map.ipp"  // IWYU pragma: export
#endif
