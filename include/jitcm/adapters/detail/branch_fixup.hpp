// What the code-generator adapters share: writing a branch displacement into
// a call site once the final addresses are known, and veneers — small jumps
// appended after a function's code for call sites whose own displacement
// field cannot reach the callee's jump-table slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "../../base/error.hpp"
#include "../../base/result.hpp"

namespace jitcm::adapters::detail {

/// The instruction sets the adapters emit veneers for.
enum class isa { x64, arm64 };

/// Bytes a veneer takes (the far form, the larger), and the alignment of the
/// first one (the far form ends with an 8-byte address).
inline constexpr std::size_t veneer_size = 16;
inline constexpr std::size_t veneer_alignment = 8;

[[nodiscard]] constexpr std::size_t align_up(std::size_t value, std::size_t alignment) noexcept {
  return (value + alignment - 1) & ~(alignment - 1);
}

/// A signed, PC-relative displacement field inside an instruction: the
/// displacement, shifted right by `discard_lsb` (which must be zero bits),
/// occupies `bit_count` bits starting at bit `bit_shift` of the
/// little-endian word of `value_size` bytes at `value_offset` from the site.
struct displacement_field {
  std::uint32_t value_offset = 0;
  std::uint32_t value_size = 4;
  std::uint32_t bit_count = 32;
  std::uint32_t bit_shift = 0;
  std::uint32_t discard_lsb = 0;

  /// How far the field reaches either way, in bytes.
  [[nodiscard]] constexpr std::uint64_t reach() const noexcept {
    return std::uint64_t{1} << (bit_count - 1 + discard_lsb);
  }
  [[nodiscard]] constexpr bool valid() const noexcept {
    return bit_count > 0 && value_size <= 8 && bit_count + bit_shift <= value_size * 8 && bit_count + discard_lsb < 64;
  }
  [[nodiscard]] constexpr bool fits(std::int64_t displacement) const noexcept {
    if (!valid()) return false;
    const std::int64_t granule = std::int64_t{1} << discard_lsb;
    if (displacement % granule != 0) return false;
    const std::int64_t scaled = displacement / granule;
    const std::int64_t limit = std::int64_t{1} << (bit_count - 1);
    return scaled >= -limit && scaled < limit;
  }
};

/// Writes `displacement` into the field of the instruction at `site`,
/// keeping the instruction's other bits. False (nothing written) if it does
/// not fit.
[[nodiscard]] inline bool write_displacement(std::byte* site, const displacement_field& field,
                                             std::int64_t displacement) noexcept {
  if (!field.fits(displacement)) return false;
  std::uint64_t word = 0;
  std::byte* where = site + field.value_offset;
  std::memcpy(&word, where, field.value_size);  // little-endian hosts only (x86-64, AArch64, RISC-V)
  const std::uint64_t mask = ((field.bit_count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << field.bit_count) - 1))
                             << field.bit_shift;
  const std::uint64_t bits = static_cast<std::uint64_t>(displacement >> field.discard_lsb) << field.bit_shift;
  word = (word & ~mask) | (bits & mask);
  std::memcpy(where, &word, field.value_size);
  return true;
}

namespace veneer_encoding {

inline void put32(std::byte* at, std::uint32_t value) noexcept { std::memcpy(at, &value, 4); }
inline void put64(std::byte* at, std::uint64_t value) noexcept { std::memcpy(at, &value, 8); }

// x86-64: `jmp rel32` (E9), or `jmp [rip+0]` (FF 25 00000000) followed by
// the absolute target; padded with int3.
inline void x64(std::byte* writable, std::uintptr_t address, std::uintptr_t target) noexcept {
  std::memset(writable, 0xCC, veneer_size);
  const std::int64_t near = static_cast<std::int64_t>(target - (address + 5));
  if (displacement_field{.value_offset = 1}.fits(near)) {
    writable[0] = std::byte{0xE9};
    put32(writable + 1, static_cast<std::uint32_t>(near));
    return;
  }
  const unsigned char far[6] = {0xFF, 0x25, 0, 0, 0, 0};
  std::memcpy(writable, far, sizeof far);
  put64(writable + 6, target);
}

// AArch64: `b imm26`, or `ldr x16, #8; br x16` followed by the absolute
// target (x16, IP0, is the register AAPCS64 leaves to veneers); padded with
// `brk #0`.
inline void arm64(std::byte* writable, std::uintptr_t address, std::uintptr_t target) noexcept {
  constexpr std::uint32_t brk = 0xD4200000u;
  for (std::size_t at = 0; at < veneer_size; at += 4) put32(writable + at, brk);
  const std::int64_t near = static_cast<std::int64_t>(target - address);
  constexpr displacement_field imm26{.bit_count = 26, .discard_lsb = 2};
  if (imm26.fits(near)) {
    put32(writable, 0x14000000u);
    (void)write_displacement(writable, imm26, near);
    return;
  }
  put32(writable, 0x58000050u);      // ldr x16, #8
  put32(writable + 4, 0xD61F0200u);  // br x16
  put64(writable + 8, target);
}

}  // namespace veneer_encoding

/// Writes at `writable` (which runs at `address`) a jump to `target`: near
/// when the displacement fits the ISA's direct branch, far otherwise.
inline void write_veneer(isa set, std::byte* writable, std::uintptr_t address, std::uintptr_t target) noexcept {
  if (set == isa::x64) {
    veneer_encoding::x64(writable, address, target);
  } else {
    veneer_encoding::arm64(writable, address, target);
  }
}

/// The widest span of one code space of `module`: every slot reaches every
/// instruction of its space, so a call site reaching this far needs no
/// veneer.
template <class Module>
[[nodiscard]] std::uint64_t code_space_span(const Module& module) noexcept {
  return module.max_code_space_size();
}

/// A call from new code to a function of its module: the displacement field
/// at `offset` from the code's start gets `slot - (address of the site) +
/// bias`.
struct call_site {
  std::size_t offset = 0;
  std::int64_t bias = 0;
  displacement_field field{};
  std::uint32_t index = 0;
};

/// The calls of one piece of code to its module's functions, resolved at
/// publish to a slot of each function: the stable call target when in
/// reach, else the slot in the jump table of the code space the code lands
/// in (always within near reach of it). A call site whose field reaches less
/// than a code space spans has a veneer after the code (one per function),
/// which jumps on near or far.
class call_fixups {
 public:
  void add(const call_site& site) { sites_.push_back(site); }
  [[nodiscard]] bool empty() const noexcept { return sites_.empty(); }

  /// Decides which functions get a veneer: those with a site that reaches
  /// less than `code_space_span`. Call before sizing the code.
  void plan_veneers(std::uint64_t code_space_span) {
    veneered_.clear();
    for (const call_site& site : sites_) {
      if (site.field.reach() >= code_space_span || veneer_of(site.index) != nullptr) continue;
      veneered_.push_back({site.index, 0});
    }
  }
  [[nodiscard]] std::size_t veneer_bytes() const noexcept { return veneered_.size() * veneer_size; }
  /// Bytes of code followed by the planned veneers.
  [[nodiscard]] std::size_t size_with_veneers(std::size_t code_bytes) const noexcept {
    return veneered_.empty() ? code_bytes : align_up(code_bytes, veneer_alignment) + veneer_bytes();
  }

  /// Patches every site of the code written at `writable`, which runs at
  /// `address` and is `code_bytes` long (the veneers follow it, as planned),
  /// to call `module`'s functions. A site goes to the function's stable
  /// call target (`call_target`, which takes no lock: the caller may hold
  /// the code's write scope) when it reaches, else to its slot in the code
  /// space of `address` (`call_target_near`), else through its veneer.
  /// Errors: the module's (out_of_range for an index it does not declare);
  /// invalid_argument (a field the fixups cannot encode);
  /// target_out_of_range (a site that reaches no slot and has no veneer).
  template <class Module>
  [[nodiscard]] result<void> apply(isa set, std::byte* writable, std::uintptr_t address, std::size_t code_bytes,
                                   const Module& module) {
    std::size_t next_veneer = align_up(code_bytes, veneer_alignment);
    for (veneer& v : veneered_) {
      auto slot = module.call_target(v.index);
      if (!slot) return forward_error(slot);
      write_veneer(set, writable + next_veneer, address + next_veneer, *slot);  // far if need be
      v.offset = next_veneer;
      next_veneer += veneer_size;
    }
    for (const call_site& site : sites_) {
      if (!site.field.valid()) return failure{errc::invalid_argument};
      auto slot = module.call_target(site.index);
      if (!slot) return forward_error(slot);
      if (patch(writable, address, site, *slot)) continue;
      if (const veneer* v = veneer_of(site.index);
          v != nullptr && patch(writable, address, site, address + v->offset)) {
        continue;
      }
      auto near = module.call_target_near(site.index, address);
      if (!near) return forward_error(near);
      if (!patch(writable, address, site, *near)) return failure{errc::target_out_of_range};
    }
    return {};
  }

 private:
  struct veneer {
    std::uint32_t index;
    std::size_t offset;
  };
  [[nodiscard]] static bool patch(std::byte* writable, std::uintptr_t address, const call_site& site,
                                  std::uintptr_t target) noexcept {
    const auto displacement = static_cast<std::int64_t>(target - (address + site.offset)) + site.bias;
    return write_displacement(writable + site.offset, site.field, displacement);
  }
  [[nodiscard]] const veneer* veneer_of(std::uint32_t index) const noexcept {
    for (const veneer& v : veneered_) {
      if (v.index == index) return &v;
    }
    return nullptr;
  }

  std::vector<call_site> sites_;
  std::vector<veneer> veneered_;
};

}  // namespace jitcm::adapters::detail
