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

#include "../../base/config.hpp"

namespace jitcm::observe::detail {

class byte_buffer {
 public:
  /// Appends the object representation of `value`.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put(const T& value) { put_bytes(&value, sizeof(T)); }
  // Out of line: their growth instantiates std::vector<std::byte>'s
  // insertion, which separate compilation then compiles once. put goes
  // through a pointer and a size, not a span: a span built from a pointer
  // of a non-dependent type is instantiated where put is defined, in every TU.
  void put_bytes(std::span<const std::byte> bytes);
  void put_bytes(const void* data, std::size_t size);
  /// `text` and its terminating NUL.
  void put_string(std::string_view text);
  void put_uleb128(std::uint64_t value);
  void put_sleb128(std::int64_t value);
  /// Appends `fill` until the size is a multiple of `alignment`.
  void pad_to(std::size_t alignment, std::byte fill = std::byte{0});
  /// Overwrites the object at `offset` (already appended) with `value`.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void patch(std::size_t offset, const T& value) noexcept { std::memcpy(storage().data() + offset, &value, sizeof(T)); }

  // Out of line too: a span made from the vector, and the vector's members,
  // are instantiated in every TU that reads them inline.
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept;
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept;
  [[nodiscard]] std::vector<std::byte>& storage() noexcept { return bytes_; }
  void clear() noexcept;

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

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/byte_buffer.ipp"  // IWYU pragma: export
#endif
