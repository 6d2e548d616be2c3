// Definitions of <jitcm/observe/detail/byte_buffer.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../byte_buffer.hpp"

namespace jitcm::observe::detail {

JITCM_DECL void byte_buffer::put_bytes(std::span<const std::byte> bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
}

JITCM_DECL void byte_buffer::put_bytes(const void* data, std::size_t size) {
  put_bytes({static_cast<const std::byte*>(data), size});
}

JITCM_DECL std::size_t byte_buffer::size() const noexcept { return bytes_.size(); }
JITCM_DECL bool byte_buffer::empty() const noexcept { return bytes_.empty(); }
JITCM_DECL std::span<const std::byte> byte_buffer::bytes() const noexcept { return bytes_; }
JITCM_DECL void byte_buffer::clear() noexcept { bytes_.clear(); }

JITCM_DECL void byte_buffer::put_string(std::string_view text) {
  put_bytes(std::as_bytes(std::span{text.data(), text.size()}));
  bytes_.push_back(std::byte{0});
}

JITCM_DECL void byte_buffer::put_uleb128(std::uint64_t value) {
  do {
    std::uint8_t low = value & 0x7f;
    value >>= 7;
    if (value != 0) low |= 0x80;
    put(low);
  } while (value != 0);
}

JITCM_DECL void byte_buffer::put_sleb128(std::int64_t value) {
  bool more = true;
  while (more) {
    std::uint8_t low = value & 0x7f;
    value >>= 7;  // arithmetic shift: C++20 defines it for negative values
    more = !((value == 0 && (low & 0x40) == 0) || (value == -1 && (low & 0x40) != 0));
    if (more) low |= 0x80;
    put(low);
  }
}

JITCM_DECL void byte_buffer::pad_to(std::size_t alignment, std::byte fill) {
  while (bytes_.size() % alignment != 0) bytes_.push_back(fill);
}

}  // namespace jitcm::observe::detail
