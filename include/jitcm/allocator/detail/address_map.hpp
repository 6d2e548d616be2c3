// address_map: a flat hash map keyed by address, for allocator bookkeeping.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace jitcm::allocator::detail {

/// An open-addressing hash table (linear probing, backward-shift deletion)
/// from address to `Value`. Address 0 marks an empty slot and is never a key.
/// Lookups touch one or two adjacent cache lines at the load factor kept here
/// (at most 3/4), so lookups cost O(1) however many entries there are, and
/// the table lives on the heap, never in code pages.
///
/// Thread safety: none; the owning allocator locks.
template <class Value>
class address_map {
 public:
  [[nodiscard]] const Value* find(std::uintptr_t address) const noexcept {
    if (slots_.empty() || address == 0) return nullptr;
    for (std::size_t i = home(address);; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.address == address) return &s.value;
      if (s.address == 0) return nullptr;
    }
  }

  /// Precondition: `address` is not in the table and not 0.
  void insert(std::uintptr_t address, Value value) {
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    place(address, value);
    ++count_;
  }

  /// Sets the value of `address`, which is in the table.
  void assign(std::uintptr_t address, Value value) noexcept {
    for (std::size_t i = home(address);; i = (i + 1) & mask_) {
      if (slots_[i].address == address) {
        slots_[i].value = value;
        return;
      }
    }
  }

  /// Removes `address`; returns whether it was there.
  bool erase(std::uintptr_t address) noexcept {
    if (slots_.empty() || address == 0) return false;
    std::size_t i = home(address);
    while (slots_[i].address != address) {
      if (slots_[i].address == 0) return false;
      i = (i + 1) & mask_;
    }
    // Backward shift: pull later entries of the probe run into the hole so
    // no tombstones accumulate under churn.
    for (std::size_t next = (i + 1) & mask_;; next = (next + 1) & mask_) {
      const std::uintptr_t moving = slots_[next].address;
      if (moving == 0) break;
      const std::size_t wanted = home(moving);
      // Move it if its home is not in (i, next], cyclically.
      if (((next - wanted) & mask_) >= ((next - i) & mask_)) {
        slots_[i] = slots_[next];
        i = next;
      }
    }
    slots_[i] = slot{};
    --count_;
    return true;
  }

  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  struct slot {
    std::uintptr_t address = 0;
    Value value{};
  };

  [[nodiscard]] std::size_t home(std::uintptr_t address) const noexcept {
    // Fibonacci hashing: block addresses share their low bits (alignment),
    // the multiply spreads the rest over the top bits we keep.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(address) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void place(std::uintptr_t address, Value value) noexcept {
    std::size_t i = home(address);
    while (slots_[i].address != 0) i = (i + 1) & mask_;
    slots_[i] = slot{address, value};
  }

  void grow() {
    std::vector<slot> old = std::move(slots_);
    const std::size_t capacity = old.empty() ? 64 : old.size() * 2;
    slots_.assign(capacity, slot{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    for (const slot& s : old) {
      if (s.address != 0) place(s.address, s.value);
    }
  }

  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t count_ = 0;
};

}  // namespace jitcm::allocator::detail
