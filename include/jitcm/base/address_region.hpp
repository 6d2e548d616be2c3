// A half-open range of addresses [begin, begin + size).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>

namespace jitcm {

/// A contiguous range of addresses. Addresses are plain integers so that
/// regions of memory this process cannot touch (reserved, foreign, in another
/// view) are described without forming pointers to them.
class address_region {
 public:
  constexpr address_region() noexcept = default;
  constexpr address_region(std::uintptr_t begin, std::size_t size) noexcept : begin_{begin}, size_{size} {}

  [[nodiscard]] constexpr std::uintptr_t begin() const noexcept { return begin_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  [[nodiscard]] constexpr std::uintptr_t end() const noexcept { return begin_ + size_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }

  [[nodiscard]] constexpr bool contains(std::uintptr_t address) const noexcept {
    // Unsigned wrap-around makes this one comparison for both bounds.
    return address - begin_ < size_;
  }
  [[nodiscard]] constexpr bool contains(address_region other) const noexcept {
    return other.begin_ >= begin_ && other.size_ <= size_ && other.begin_ - begin_ <= size_ - other.size_;
  }
  [[nodiscard]] constexpr bool overlaps(address_region other) const noexcept {
    return !empty() && !other.empty() && other.begin_ < end() && begin_ < other.end();
  }

  /// Removes `bytes` from the front and returns them as a region of their own.
  /// Precondition: bytes <= size().
  constexpr address_region take_front(std::size_t bytes) noexcept {
    address_region front{begin_, bytes};
    begin_ += bytes;
    size_ -= bytes;
    return front;
  }

  friend constexpr bool operator==(address_region, address_region) noexcept = default;
  /// Orders by start address, then size: the order free lists keep.
  friend constexpr auto operator<=>(address_region, address_region) noexcept = default;

  template <class T = void>
  [[nodiscard]] T* pointer() const noexcept {
    return reinterpret_cast<T*>(begin_);
  }

 private:
  std::uintptr_t begin_ = 0;
  std::size_t size_ = 0;
};

}  // namespace jitcm
