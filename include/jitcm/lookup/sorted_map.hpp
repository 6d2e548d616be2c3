// lookup::sorted_map: V8's code lookup — a map keyed by start address under a
// mutex.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>

#include "../base/code.hpp"
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
  [[nodiscard]] result<void> insert(const code* c) {
    if (c == nullptr) return failure{errc::invalid_argument};
    const address_region region = c->instructions();
    std::lock_guard lock{mutex_};
    const auto next = codes_.lower_bound(region.begin());
    if (next != codes_.end() && next->second->instructions().overlaps(region)) {
      return failure{errc::overlapping_region};
    }
    if (next != codes_.begin() && std::prev(next)->second->instructions().overlaps(region)) {
      return failure{errc::overlapping_region};
    }
    codes_.emplace_hint(next, region.begin(), c);
    return {};
  }

  /// Errors: not_owned (`c` is not in the map).
  [[nodiscard]] result<void> erase(const code* c) {
    if (c == nullptr) return failure{errc::not_owned};
    std::lock_guard lock{mutex_};
    const auto it = codes_.find(c->instruction_start());
    if (it == codes_.end() || it->second != c) return failure{errc::not_owned};
    codes_.erase(it);
    return {};
  }

  [[nodiscard]] const code* find(std::uintptr_t pc) const {
    std::lock_guard lock{mutex_};
    auto it = codes_.upper_bound(pc);
    if (it == codes_.begin()) return nullptr;
    --it;
    return it->second->contains(pc) ? it->second : nullptr;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock{mutex_};
    return codes_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, const code*> codes_;
};

}  // namespace jitcm::lookup
