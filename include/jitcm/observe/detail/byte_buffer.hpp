// A growable byte buffer that tool formats (jitdump records, ELF images,
// .eh_frame entries) are assembled in, little-endian as every host jitcm
// supports is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace jitcm::observe::detail {

class byte_buffer {
 public:
  /// Appends the object representation of `value`.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put(const T& value) {
    const auto* first = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), first, first + sizeof(T));
  }
  void put_bytes(std::span<const std::byte> bytes) { bytes_.insert(bytes_.end(), bytes.begin(), bytes.end()); }
  /// `text` and its terminating NUL.
  void put_string(std::string_view text) {
    put_bytes(std::as_bytes(std::span{text.data(), text.size()}));
    bytes_.push_back(std::byte{0});
  }
  void put_uleb128(std::uint64_t value) {
    do {
      std::uint8_t low = value & 0x7f;
      value >>= 7;
      if (value != 0) low |= 0x80;
      put(low);
    } while (value != 0);
  }
  void put_sleb128(std::int64_t value) {
    bool more = true;
    while (more) {
      std::uint8_t low = value & 0x7f;
      value >>= 7;  // arithmetic shift: C++20 defines it for negative values
      more = !((value == 0 && (low & 0x40) == 0) || (value == -1 && (low & 0x40) != 0));
      if (more) low |= 0x80;
      put(low);
    }
  }
  /// Appends `fill` until the size is a multiple of `alignment`.
  void pad_to(std::size_t alignment, std::byte fill = std::byte{0}) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(fill);
  }
  /// Overwrites the object at `offset` (already appended) with `value`.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void patch(std::size_t offset, const T& value) noexcept { std::memcpy(bytes_.data() + offset, &value, sizeof(T)); }

  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::vector<std::byte>& storage() noexcept { return bytes_; }
  void clear() noexcept { bytes_.clear(); }

 private:
  std::vector<std::byte> bytes_;
};

/// Reads a T stored at `at` (any alignment).
template <class T>
requires std::is_trivially_copyable_v<T>
[[nodiscard]] T load(const std::byte* at) noexcept {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

}  // namespace jitcm::observe::detail
