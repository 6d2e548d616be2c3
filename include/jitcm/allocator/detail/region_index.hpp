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
/// pointer), in one flat vector: finding the region of an address is a
/// binary search that reads nothing but the vector and takes no branch that
/// depends on the address (a handful of entries: an allocator's code spaces
/// grow in number logarithmically with its code). Trying the region found
/// last first saved nothing on allocate and was a mispredicted branch on
/// most frees in random order.
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
/// Thread safety: none; the owning allocator locks.
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
    return &base->value;
  }

  [[nodiscard]] std::span<const entry> entries() const noexcept { return entries_; }

 private:
  static bool before(std::uintptr_t address, const entry& e) noexcept { return address < e.begin; }
  static bool contains(const entry& e, std::uintptr_t address) noexcept {
    return address >= e.begin && address < e.end;
  }

  std::vector<entry> entries_;
};

}  // namespace jitcm::allocator::detail
