// Little-endian byte assembly shared by the instruction encoders.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace jitcm::jump_table::detail {

/// The bytes of one jump-table slot, in memory order.
template <std::size_t N>
using slot_bytes = std::array<std::uint8_t, N>;

/// Appends little-endian values to a slot_bytes, the order every supported
/// architecture stores instructions and literals in.
template <std::size_t N>
class byte_writer {
 public:
  constexpr explicit byte_writer(std::uint8_t fill) noexcept { bytes_.fill(fill); }

  /// Values that would not fit are dropped; every encoder writes exactly its
  /// slot size, which the encoding tests check.
  constexpr byte_writer& put(std::uint64_t value, std::size_t width) noexcept {
    if (width > N || position_ > N - width) return *this;
    for (std::size_t i = 0; i < width; ++i) bytes_[position_ + i] = static_cast<std::uint8_t>(value >> (8 * i));
    position_ += width;
    return *this;
  }
  constexpr byte_writer& u8(std::uint8_t value) noexcept { return put(value, 1); }
  constexpr byte_writer& u32(std::uint32_t value) noexcept { return put(value, 4); }

  /// Bytes written so far: where the next value goes.
  [[nodiscard]] constexpr std::size_t position() const noexcept { return position_; }
  /// The slot; bytes never written keep the fill value.
  [[nodiscard]] constexpr const slot_bytes<N>& bytes() const noexcept { return bytes_; }

 private:
  slot_bytes<N> bytes_{};
  std::size_t position_ = 0;
};

/// Reads a little-endian value of `width` bytes at `offset`.
template <std::size_t N>
[[nodiscard]] constexpr std::uint64_t read_le(const slot_bytes<N>& bytes, std::size_t offset,
                                              std::size_t width) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) value |= std::uint64_t{bytes[offset + i]} << (8 * i);
  return value;
}

/// target - from as a signed distance (addresses wrap like the CPU's do).
[[nodiscard]] constexpr std::int64_t distance(std::uintptr_t from, std::uintptr_t target) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(target) - static_cast<std::uint64_t>(from));
}

/// Whether `value` fits a signed field of `bits` bits.
[[nodiscard]] constexpr bool fits_signed(std::int64_t value, unsigned bits) noexcept {
  const std::int64_t limit = std::int64_t{1} << (bits - 1);
  return value >= -limit && value < limit;
}

}  // namespace jitcm::jump_table::detail
