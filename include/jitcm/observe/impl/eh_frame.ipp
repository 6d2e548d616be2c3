// Definitions of <jitcm/observe/eh_frame.hpp> (see environment.ipp): the
// DWARF writer and reader.
#pragma once

#include <cstring>

#include "../detail/byte_buffer.hpp"
#include "../eh_frame.hpp"

namespace jitcm::observe::eh_frame {

namespace detail {

using observe::detail::byte_buffer;
using observe::detail::load;

// DWARF call-frame instructions (DWARF 5, section 6.4.2).
inline constexpr std::uint8_t cfa_advance_loc = 0x40, cfa_offset = 0x80, cfa_restore = 0xc0;
inline constexpr std::uint8_t cfa_nop = 0x00, cfa_advance_loc1 = 0x02, cfa_advance_loc2 = 0x03, cfa_advance_loc4 = 0x04,
                              cfa_def_cfa = 0x0c, cfa_def_cfa_register = 0x0d, cfa_def_cfa_offset = 0x0e;
/// DW_EH_PE_absptr: locations stored as plain 8-byte addresses.
inline constexpr std::uint8_t pointer_absolute = 0x00, pointer_udata8 = 0x04, pointer_omit = 0xff;

/// The registers and factors of one architecture's CFI (DWARF numbering).
struct abi {
  std::uint8_t stack_pointer, frame_pointer, return_address;
  std::uint8_t code_alignment;
  std::int8_t data_alignment;
  std::uint8_t cfa_at_entry;          ///< CFA = sp + this at a function's first instruction
  std::uint8_t frame_pointer_to_cfa;  ///< CFA = frame pointer + this once the frame is set up
  bool return_address_on_stack;
};

[[nodiscard]] constexpr abi abi_of(architecture arch) noexcept {
  switch (arch) {
    case architecture::x64:
      return {7, 6, 16, 1, -8, 8, 16, true};
    case architecture::arm64:
      return {31, 29, 30, 4, -8, 0, 16, false};
    case architecture::riscv64:
      return {2, 8, 1, 1, -8, 0, 0, false};
  }
  return {};
}

inline void advance(byte_buffer& out, std::uint32_t delta) {
  if (delta < 0x40) {
    out.put(static_cast<std::uint8_t>(cfa_advance_loc | delta));
  } else if (delta <= 0xff) {
    out.put(cfa_advance_loc1);
    out.put(static_cast<std::uint8_t>(delta));
  } else if (delta <= 0xffff) {
    out.put(cfa_advance_loc2);
    out.put(static_cast<std::uint16_t>(delta));
  } else {
    out.put(cfa_advance_loc4);
    out.put(delta);
  }
}
inline void def_cfa(byte_buffer& out, std::uint8_t reg, std::uint64_t offset) {
  out.put(cfa_def_cfa);
  out.put_uleb128(reg);
  out.put_uleb128(offset);
}
/// `reg` saved at CFA - `bytes`.
inline void saved_at(byte_buffer& out, const abi& a, std::uint8_t reg, std::uint32_t bytes) {
  out.put(static_cast<std::uint8_t>(cfa_offset | reg));
  out.put_uleb128(bytes / static_cast<std::uint32_t>(-a.data_alignment));
}

/// Appends an entry whose body `write` produces, with its length in front and
/// DW_CFA_nop padding to 8 bytes. Returns the entry's offset.
template <class Write>
std::size_t entry(byte_buffer& out, Write&& write) {
  const std::size_t start = out.size();
  out.put(std::uint32_t{0});
  write();
  out.pad_to(8, std::byte{cfa_nop});
  out.patch(start, static_cast<std::uint32_t>(out.size() - start - 4));
  return start;
}

inline void frame_pointer_program(byte_buffer& out, const abi& a, const frame& f) {
  const std::uint32_t code_unit = a.code_alignment;
  const std::uint32_t frame_size = 16;  // the frame pointer and the return address
  advance(out, f.after_save / code_unit);
  out.put(cfa_def_cfa_offset);
  out.put_uleb128(a.return_address_on_stack ? frame_size : frame_size + a.cfa_at_entry);
  saved_at(out, a, a.frame_pointer, frame_size);
  if (!a.return_address_on_stack) saved_at(out, a, a.return_address, frame_size / 2);
  advance(out, (f.after_frame_setup - f.after_save) / code_unit);
  def_cfa(out, a.frame_pointer, a.frame_pointer_to_cfa);
  if (f.after_teardown) {
    advance(out, (*f.after_teardown - f.after_frame_setup) / code_unit);
    def_cfa(out, a.stack_pointer, a.cfa_at_entry);
    out.put(static_cast<std::uint8_t>(cfa_restore | a.frame_pointer));
    if (!a.return_address_on_stack) out.put(static_cast<std::uint8_t>(cfa_restore | a.return_address));
  }
}

[[nodiscard]] inline bool offsets_valid(const abi& a, const frame& f) noexcept {
  if (f.code_size == 0) return false;
  if (f.shape == frame_shape::leaf) return true;
  const bool ordered =
      f.after_save > 0 && f.after_save <= f.after_frame_setup && f.after_frame_setup <= f.code_size &&
      (!f.after_teardown || (*f.after_teardown >= f.after_frame_setup && *f.after_teardown <= f.code_size));
  const bool aligned = f.after_save % a.code_alignment == 0 && f.after_frame_setup % a.code_alignment == 0 &&
                       (!f.after_teardown || *f.after_teardown % a.code_alignment == 0);
  return ordered && aligned;
}

}  // namespace detail

JITCM_DECL result<std::vector<std::byte>> build(architecture arch, const frame& f) {
  using namespace detail;
  const abi a = abi_of(arch);
  if (!offsets_valid(a, f)) return failure{errc::invalid_argument};
  byte_buffer out;
  const std::size_t cie = entry(out, [&] {
    out.put(std::uint32_t{0});  // CIE id
    out.put(std::uint8_t{1});   // version
    out.put_string("zR");
    out.put_uleb128(a.code_alignment);
    out.put_sleb128(a.data_alignment);
    out.put(a.return_address);  // version 1: one byte
    out.put_uleb128(1);         // augmentation data: the FDE pointer encoding
    out.put(pointer_absolute);
    def_cfa(out, a.stack_pointer, a.cfa_at_entry);
    if (a.return_address_on_stack) saved_at(out, a, a.return_address, a.cfa_at_entry);
  });
  entry(out, [&] {
    out.put(static_cast<std::uint32_t>(out.size() - cie));  // back to the CIE, from this field
    out.put(std::uint64_t{0});                              // initial location: the code's start
    out.put(std::uint64_t{f.code_size});
    out.put_uleb128(0);  // no augmentation data
    if (f.shape == frame_shape::frame_pointer) frame_pointer_program(out, a, f);
  });
  return std::move(out.storage());
}

namespace detail {

/// Size of a pointer stored with `encoding` (its low four bits); 0 for
/// encodings jitcm does not read.
[[nodiscard]] constexpr std::size_t encoded_size(std::uint8_t encoding) noexcept {
  switch (encoding & 0x0f) {
    case 0x00:
    case 0x04:
    case 0x0c:
      return 8;  // absptr, udata8, sdata8
    case 0x02:
    case 0x0a:
      return 2;  // udata2, sdata2
    case 0x03:
    case 0x0b:
      return 4;  // udata4, sdata4
    default:
      return 0;
  }
}

/// A cursor over entry bytes that fails (rather than reads past the end).
struct reader {
  std::span<const std::byte> bytes;
  std::size_t at = 0;
  bool ok = true;

  bool need(std::size_t n) noexcept {
    if (bytes.size() - at < n) ok = false;
    return ok;
  }
  std::uint8_t u8() noexcept { return need(1) ? std::to_integer<std::uint8_t>(bytes[at++]) : 0; }
  std::uint64_t uleb() noexcept {
    std::uint64_t value = 0;
    for (unsigned shift = 0; ok && shift < 64; shift += 7) {
      const std::uint8_t b = u8();
      value |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return value;
    }
    ok = false;
    return 0;
  }
  const char* string() noexcept {
    const std::size_t start = at;
    while (ok && u8() != 0) {
    }
    return ok ? reinterpret_cast<const char*>(bytes.data() + start) : "";
  }
  void skip(std::size_t n) noexcept {
    if (need(n)) at += n;
  }
};

/// The FDE pointer encoding a CIE announces (absptr when it has no 'R').
[[nodiscard]] inline std::optional<std::uint8_t> cie_pointer_encoding(reader r) noexcept {
  const std::uint8_t version = r.u8();
  if (version != 1 && version != 3) return std::nullopt;
  const char* augmentation = r.string();
  std::uint8_t encoding = pointer_absolute;
  if (augmentation[0] != 'z') return augmentation[0] == 0 && r.ok ? std::optional{encoding} : std::nullopt;
  (void)r.uleb();  // code alignment
  (void)r.uleb();  // data alignment (sleb: same length)
  if (version == 1)
    (void)r.u8();
  else
    (void)r.uleb();  // return address register
  (void)r.uleb();    // augmentation data length
  for (const char* c = augmentation + 1; *c != 0 && r.ok; ++c) {
    if (*c == 'R') {
      encoding = r.u8();
    } else if (*c == 'L') {
      (void)r.u8();
    } else if (*c == 'P') {
      const std::uint8_t personality = r.u8();
      const std::size_t size = encoded_size(personality);
      if (size == 0) return std::nullopt;
      r.skip(size);
    } else if (*c != 'S') {
      return std::nullopt;
    }
  }
  if (!r.ok) return std::nullopt;
  return encoding;
}

}  // namespace detail

JITCM_DECL result<std::vector<fde>> parse(std::span<const std::byte> entries) {
  using namespace detail;
  std::vector<fde> found;
  std::size_t at = 0;
  while (at < entries.size()) {
    if (entries.size() - at < 8) return failure{errc::invalid_argument};
    const auto length = load<std::uint32_t>(entries.data() + at);
    if (length < 4 || length > entries.size() - at - 4) return failure{errc::invalid_argument};
    const std::size_t body = at + 8;
    const std::size_t end = at + 4 + length;
    const auto id = load<std::uint32_t>(entries.data() + at + 4);
    if (id != 0) {
      if (id > at + 4) return failure{errc::invalid_argument};
      const std::size_t cie = at + 4 - id;
      const reader cie_body{entries.first(cie + 4 + load<std::uint32_t>(entries.data() + cie)), cie + 8};
      const auto encoding = cie_pointer_encoding(cie_body);
      if (!encoding) return failure{errc::invalid_argument};
      if (*encoding != pointer_absolute && *encoding != pointer_udata8) return failure{errc::unsupported};
      if (end - body < 16) return failure{errc::invalid_argument};
      found.push_back(
          {body, load<std::uint64_t>(entries.data() + body), load<std::uint64_t>(entries.data() + body + 8)});
    }
    at = end;
  }
  return found;
}

JITCM_DECL result<std::vector<std::byte>> rebase(std::span<const std::byte> entries, std::uint64_t base) {
  auto fdes = parse(entries);
  if (!fdes) return forward_error(fdes);
  std::vector<std::byte> section(entries.begin(), entries.end());
  section.resize(section.size() + 4, std::byte{0});
  for (const fde& f : *fdes) {
    const std::uint64_t absolute = f.location + base;
    std::memcpy(section.data() + f.location_offset, &absolute, sizeof absolute);
  }
  return section;
}

}  // namespace jitcm::observe::eh_frame
