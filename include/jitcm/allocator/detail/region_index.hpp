// region_index: which of a few disjoint address regions holds an address.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../../base/address_region.hpp"

namespace jitcm::allocator::detail {

/// Disjoint regions sorted by address, each with a `Value` (an index or a
/// pointer), in one flat vector: finding the region of an address tries the
/// region found last, then a binary search that reads nothing but the vector
/// (a handful of entries: an allocator's code spaces grow in number
/// logarithmically with its code).
///
/// | expression         | result                | guarantees |
/// |--------------------|-----------------------|------------|
/// | `x.insert(r, v)`   | `void`                | r (not empty, overlapping no region in x) is in x with value v; may throw std::bad_alloc like any vector |
/// | `x.erase(v)`       | `void`                | the region with value v (there is one) is no longer in x |
/// | `x.find(address)`  | `const Value*`        | the value of the region containing address, nullptr if none |
/// | `x.entries()`      | `std::span<const entry>` | every region in address order |
///
/// ```cpp
/// jitcm::allocator::detail::region_index<int> x;
/// x.insert({0x1000, 0x1000}, 7);
/// assert(*x.find(0x1fff) == 7 && x.find(0x2000) == nullptr);
/// ```
///
/// Thread safety: none, find included (it remembers what it found); the
/// owning allocator locks.
template <class Value>
class region_index {
 public:
  struct entry {
    std::uintptr_t begin;
    std::uintptr_t end;
    Value value;
  };

  void insert(address_region r, Value value) {
    entries_.insert(std::upper_bound(entries_.begin(), entries_.end(), r.begin(), before),
                    entry{r.begin(), r.end(), value});
  }

  void erase(const Value& value) noexcept {
    entries_.erase(std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.value == value; }));
  }

  [[nodiscard]] const Value* find(std::uintptr_t address) const noexcept {
    if (last_ < entries_.size() && contains(entries_[last_], address)) return &entries_[last_].value;
    if (entries_.empty()) return nullptr;
    // The last entry beginning at or below `address`, by a binary search
    // whose step is a conditional move: frees in random order land in
    // random spaces, and a branch per step mispredicted half the time.
    const entry* base = entries_.data();
    std::size_t n = entries_.size();
    while (n > 1) {
      const std::size_t half = n / 2;
      base = base[half].begin <= address ? base + half : base;
      n -= half;
    }
    if (!contains(*base, address)) return nullptr;
    last_ = static_cast<std::size_t>(base - entries_.data());
    return &base->value;
  }

  [[nodiscard]] std::span<const entry> entries() const noexcept { return entries_; }

 private:
  static bool before(std::uintptr_t address, const entry& e) noexcept { return address < e.begin; }
  static bool contains(const entry& e, std::uintptr_t address) noexcept {
    return address >= e.begin && address < e.end;
  }

  std::vector<entry> entries_;
  // The entry the last search found, tried first: consecutive allocations
  // land in one space, and the newest space holds most blocks. find() writes
  // it although it is const, so the owner calls find() under the same lock as
  // insert and erase (basic_allocator: `lock_`, taken by every member).
  mutable std::size_t last_ = 0;
};

}  // namespace jitcm::allocator::detail
