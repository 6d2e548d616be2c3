// Windows x64 unwind info for JIT code: what code_desc::unwind_info holds on
// Windows, and a builder for common frames.
//
// Windows unwinds (C++ exceptions, SEH, debuggers, RtlVirtualUnwind) with a
// RUNTIME_FUNCTION per function: its start and end, and an UNWIND_INFO that
// lists the prologue's operations. code_desc::unwind_info carries them as
// entries that tile the span as .eh_frame entries do (so code::create
// checks them the same way), with offsets relative to the code's first
// instruction, since the final address may not be known when they are made:
//
//   u32 length                   bytes after this field (a multiple of 4)
//   u32 begin, u32 end           the function's range, code-relative
//   UNWIND_INFO                  version 1, padded to a multiple of 4 bytes
//
// | expression                                  | result                       | guarantees |
// |---------------------------------------------|------------------------------|------------|
// | `windows_unwind::frame{.code_size, ...}`    | —                            | a prologue of `sub rsp, stack_bytes` (optionally after `push rbp; mov rbp, rsp`) |
// | `windows_unwind::build(f)`                  | `result<std::vector<std::byte>>` | one entry for the whole function; `invalid_argument` for a frame UNWIND_INFO cannot describe |
// | `windows_unwind::parse(bytes)`              | `result<std::vector<entry>>` | the entries, each with its UNWIND_INFO's bytes; `invalid_argument` for lengths that do not tile, ranges that are empty or reversed, or an UNWIND_INFO that is not version 1 or outruns its entry |
//
//     // sub rsp, 40; ...; call ...; add rsp, 40; ret
//     auto unwind = jitcm::observe::windows_unwind::build({.code_size = 20, .prologue_size = 4, .stack_bytes = 40});
//     module.publish(*room, {.index = 0, .unwind_info = *unwind});
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "../base/error.hpp"
#include "../base/result.hpp"

namespace jitcm::observe::windows_unwind {

/// A frame whose prologue is, in this order: optionally `push rbp` (1 byte)
/// and `mov rbp, rsp` (3 bytes, rbp becomes the frame register), then
/// `sub rsp, stack_bytes` (4 bytes for up to 128, 7 beyond). `stack_bytes`
/// includes the callee's 32-byte shadow space and keeps rsp 16-byte aligned
/// at calls (so it is 8 mod 16 without rbp, 0 mod 16 with it).
struct frame {
  std::uint32_t code_size = 0;
  std::uint32_t prologue_size = 0;  ///< bytes up to the end of the `sub rsp`
  std::uint32_t stack_bytes = 0;    ///< a multiple of 8, at least 8
  bool frame_pointer = false;       ///< `push rbp; mov rbp, rsp` first
};

/// One RUNTIME_FUNCTION, code-relative, and its UNWIND_INFO.
struct entry {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  std::span<const std::byte> unwind_info;  ///< into the parsed bytes, padded to 4
};

namespace detail {

enum : std::uint8_t { push_nonvolatile = 0, alloc_large = 1, alloc_small = 2, set_frame_pointer = 3 };
constexpr std::uint8_t rbp = 5;

inline void put16(std::vector<std::byte>& out, std::uint16_t v) {
  out.push_back(static_cast<std::byte>(v & 0xFF));
  out.push_back(static_cast<std::byte>(v >> 8));
}
inline void put32(std::vector<std::byte>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}
inline void put_code(std::vector<std::uint16_t>& codes, std::uint8_t offset, std::uint8_t op, std::uint8_t info) {
  codes.push_back(static_cast<std::uint16_t>(offset | (op << 8) | (info << 12)));
}
[[nodiscard]] inline std::uint32_t read32(std::span<const std::byte> bytes, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

}  // namespace detail

/// The entry describing `f`. Errors: invalid_argument (an empty function, a
/// prologue longer than the code or than 255 bytes, stack_bytes not a
/// positive multiple of 8, or the prologue length does not match the frame).
[[nodiscard]] inline result<std::vector<std::byte>> build(const frame& f) noexcept {
  const std::uint32_t setup = f.frame_pointer ? 4u : 0u;
  const std::uint32_t sub_size = f.stack_bytes <= 128 ? 4u : 7u;
  if (f.code_size == 0 || f.prologue_size > f.code_size || f.prologue_size > 255)
    return failure{errc::invalid_argument};
  if (f.stack_bytes == 0 || f.stack_bytes % 8 != 0) return failure{errc::invalid_argument};
  if (f.prologue_size != setup + sub_size) return failure{errc::invalid_argument};

  // Unwind codes are listed in reverse order of the prologue's operations.
  std::vector<std::uint16_t> codes;
  const auto end_of_sub = static_cast<std::uint8_t>(f.prologue_size);
  if (f.stack_bytes <= 128) {
    detail::put_code(codes, end_of_sub, detail::alloc_small, static_cast<std::uint8_t>(f.stack_bytes / 8 - 1));
  } else if (f.stack_bytes / 8 <= 0xFFFF) {
    detail::put_code(codes, end_of_sub, detail::alloc_large, 0);
    codes.push_back(static_cast<std::uint16_t>(f.stack_bytes / 8));  // the next slot holds size / 8
  } else {
    return failure{errc::invalid_argument};
  }
  if (f.frame_pointer) {
    detail::put_code(codes, 4, detail::set_frame_pointer, 0);
    detail::put_code(codes, 1, detail::push_nonvolatile, detail::rbp);
  }

  std::vector<std::byte> info;
  info.push_back(std::byte{1});  // version 1, no handler
  info.push_back(static_cast<std::byte>(f.prologue_size));
  info.push_back(static_cast<std::byte>(codes.size()));
  info.push_back(static_cast<std::byte>(f.frame_pointer ? detail::rbp : 0));  // frame register, offset 0
  for (std::uint16_t c : codes) detail::put16(info, c);
  if (codes.size() % 2 != 0) detail::put16(info, 0);  // UNWIND_INFO keeps an even number of slots

  std::vector<std::byte> out;
  detail::put32(out, static_cast<std::uint32_t>(8 + info.size()));
  detail::put32(out, 0);
  detail::put32(out, f.code_size);
  out.insert(out.end(), info.begin(), info.end());
  return out;
}

/// The entries of `bytes` (code_desc::unwind_info). Errors: invalid_argument.
[[nodiscard]] inline result<std::vector<entry>> parse(std::span<const std::byte> bytes) noexcept {
  std::vector<entry> entries;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 4) return failure{errc::invalid_argument};
    const std::uint32_t length = detail::read32(bytes, at);
    if (length < 12 || length % 4 != 0 || length > bytes.size() - at - 4) return failure{errc::invalid_argument};
    entry e{detail::read32(bytes, at + 4), detail::read32(bytes, at + 8), bytes.subspan(at + 12, length - 8)};
    if (e.end <= e.begin) return failure{errc::invalid_argument};
    const auto version = std::to_integer<std::uint8_t>(e.unwind_info[0]) & 7u;
    const std::size_t slots = std::to_integer<std::uint8_t>(e.unwind_info[2]);
    if (version != 1 || 4 + 2 * (slots + slots % 2) > e.unwind_info.size()) return failure{errc::invalid_argument};
    entries.push_back(e);
    at += 4 + std::size_t{length};
  }
  return entries;
}

}  // namespace jitcm::observe::windows_unwind
