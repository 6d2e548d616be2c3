// What every libFuzzer target here reads its input with, and how it fails.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jitcm::fuzz {

/// The input as a stream of bytes; past its end, zeros.
struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool done() const { return at >= size; }
  std::size_t next() { return at < size ? data[at++] : 0; }
};

/// A mismatch with the model: a crash libFuzzer reports with the input.
inline void expect(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace jitcm::fuzz
