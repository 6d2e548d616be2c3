// Publishing asmjit code into a native_module in one call, and calls from
// that code to the module's functions through their jump-table slots.
//
// Only for programs that include it: the rest of jitcm never depends on
// asmjit. Written against asmjit 1.9 (Debian's libasmjit-dev,
// 0.0~git20221210), x86-64 and AArch64 (`asmjit::a64`, in the same library);
// link with asmjit.
//
//     asmjit::CodeHolder code;
//     code.init(asmjit::Environment::host());     // no base address: the adapter relocates
//     asmjit::x86::Assembler a(&code);
//     a.call(jitcm::adapters::function_label(a, 2));   // function 2 of the module, through its slot
//     a.add(eax, 1);
//     a.ret();
//     auto published = jitcm::adapters::publish(module, code, {.index = 1, .tier = tiers::baseline, .name = "f"});
//
// | expression                                   | result                       | guarantees |
// |----------------------------------------------|------------------------------|------------|
// | `function_label(emitter, index)`             | `asmjit::Label`              | one global label per index and CodeHolder (named `jitcm.function.<index>`); never bind it: publish resolves it to the function's slot |
// | `function_address(module, index)`            | `result<std::uintptr_t>`     | the function's stable call target, for `a.call(imm)` / `a.bl(imm)`: asmjit relocates it near, or far through its address table (x86-64); out_of_range for a bad index |
// | `publish(module, code, desc)`                | `result<published_code>`     | flattens, resolves labels, sizes the room (code, asmjit's address table, veneers), relocates to the room's final address, copies, resolves function labels, publishes `desc` trimmed to the real size |
// | `publish(module, room, code, desc)`          | `result<published_code>`     | the same into a room the caller allocated (`module.allocate`); on error the room stays unpublished: drop it (after an error of the module's publish its write scope has ended) |
//
// Calls through `function_label` land on the function's stable call target
// when the branch reaches it, else on its slot in the jump table of the
// code space the new code lands in, which every code in that space reaches
// with a direct branch (x86-64 `call rel32`, AArch64 `bl`).
// A site whose displacement field reaches less than a code space spans
// (AArch64 `b.cond`/`cbz`, or AArch64 code in a module whose spaces exceed
// 128 MiB) is sent through a veneer the adapter appends after the code: a
// near jump, or `ldr x16, #8; br x16` and the slot's address when the slot
// is out of reach.
//
// Errors (nothing is published; the CodeHolder may have been flattened and
// relocated, so emit again before retrying):
//   unsupported          the CodeHolder targets another architecture than x86-64 or AArch64, or is not initialised
//   invalid_argument     a label used but never bound; a function label that was bound; a CodeHolder whose base
//                        address is not the room's (code emitted for another place)
//   limit_exceeded       the code is larger than the room
//   target_out_of_range  an absolute target (AArch64 `bl imm`) that no branch reaches and asmjit has no far slot
//                        for; a call site that reaches neither a slot nor a veneer
//   out_of_range         a function label for an index the module does not declare
//   asmjit_category()    any other asmjit error (code() is asmjit::Error), then the module's own errors.
//
// Thread safety: as the module's allocate and publish; a CodeHolder belongs
// to one thread.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include <asmjit/core.h>

#include "../base/code.hpp"
#include "../base/error.hpp"
#include "../native_module.hpp"
#include "../base/result.hpp"
#include "detail/branch_fixup.hpp"

namespace jitcm::adapters {

namespace detail {

inline constexpr char function_label_prefix[] = "jitcm.function.";

class asmjit_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "asmjit"; }
  std::string message(int value) const override {
    return ::asmjit::DebugUtils::errorAsString(static_cast<::asmjit::Error>(value));
  }
};

/// The function index a label named by function_label stands for, or -1.
[[nodiscard]] inline std::int64_t function_index_of(const ::asmjit::LabelEntry& label) noexcept {
  constexpr std::size_t prefix = sizeof function_label_prefix - 1;
  if (!label.hasName() || label.nameSize() <= prefix || std::memcmp(label.name(), function_label_prefix, prefix) != 0) {
    return -1;
  }
  std::uint32_t index = 0;
  const char* end = label.name() + label.nameSize();
  const auto parsed = std::from_chars(label.name() + prefix, end, index);
  return parsed.ec == std::errc{} && parsed.ptr == end ? std::int64_t{index} : -1;
}

[[nodiscard]] inline displacement_field field_of(const ::asmjit::OffsetFormat& format) noexcept {
  if (format.type() != ::asmjit::OffsetType::kSignedOffset) return {.bit_count = 0};  // invalid: refused at apply
  return {.value_offset = format.valueOffset(),
          .value_size = format.valueSize(),
          .bit_count = format.immBitCount(),
          .bit_shift = format.immBitShift(),
          .discard_lsb = format.immDiscardLsb()};
}

/// Flattens and resolves `code`, and collects the sites that call function
/// labels. Errors as publish's, before relocation.
[[nodiscard]] inline result<isa> prepare(::asmjit::CodeHolder& code, call_fixups& calls, std::uint64_t code_space_span);

/// asmjit's error as an error_code: the ones that mean a branch cannot reach
/// its target as errc::target_out_of_range (asmjit 1.9 reports an AArch64
/// `bl imm` out of reach as an invalid relocation entry).
[[nodiscard]] inline std::error_code asmjit_error(::asmjit::Error error, isa set) noexcept;

}  // namespace detail

/// The category of asmjit's own errors (value: asmjit::Error).
[[nodiscard]] inline const std::error_category& asmjit_category() noexcept {
  static const detail::asmjit_error_category category;
  return category;
}

/// The label standing for function `index` of the module the code will be
/// published into: branch or call to it (`a.call(label)`, `a.bl(label)`,
/// `a.b_eq(label)`), never bind it. An invalid label if asmjit cannot make
/// one (the emitter's error handler is told).
[[nodiscard]] inline ::asmjit::Label function_label(::asmjit::BaseEmitter& emitter, std::uint32_t index) {
  char name[sizeof detail::function_label_prefix + 10];
  std::memcpy(name, detail::function_label_prefix, sizeof detail::function_label_prefix - 1);
  char* end = std::to_chars(name + sizeof detail::function_label_prefix - 1, std::end(name), index).ptr;
  const std::size_t size = static_cast<std::size_t>(end - name);
  const ::asmjit::Label existing = emitter.labelByName(name, size);
  if (existing.isValid()) return existing;
  return emitter.newNamedLabel(name, size, ::asmjit::LabelType::kGlobal);
}

/// Function `index`'s stable call target, for an absolute call (`a.call(imm)`
/// on x86-64, where asmjit's relocation picks `call rel32` or a far call
/// through its address table; `a.bl(imm)` on AArch64, near only).
template <class Module>
[[nodiscard]] result<std::uintptr_t> function_address(const Module& module, std::uint32_t index) noexcept {
  return module.call_target(index);
}

/// Publishes the code of `code` into `room`, which the caller allocated in
/// `module`. See the table at the top of this header.
template <class Module>
[[nodiscard]] result<published_code> publish(Module& module, typename Module::pending_code& room,
                                             ::asmjit::CodeHolder& code, const code_desc& desc) {
  detail::call_fixups calls;
  auto set = detail::prepare(code, calls, detail::code_space_span(module));
  if (!set) return forward_error(set);
  if (code.hasBaseAddress() && code.baseAddress() != room.executable()) return failure{errc::invalid_argument};
  if (calls.size_with_veneers(code.codeSize()) > room.size()) return failure{errc::limit_exceeded};

  if (const ::asmjit::Error relocated = code.relocateToBase(room.executable()); relocated != ::asmjit::kErrorOk) {
    return failure{detail::asmjit_error(relocated, *set)};
  }
  // Relocation may shrink asmjit's address table (targets found near), never grow it.
  const std::size_t code_bytes = code.codeSize();
  const std::size_t total = calls.size_with_veneers(code_bytes);
  if (total > room.size()) return failure{errc::limit_exceeded};
  if (const ::asmjit::Error copied =
          code.copyFlattenedData(room.writable(), code_bytes, ::asmjit::CopySectionFlags::kPadSectionBuffer);
      copied != ::asmjit::kErrorOk) {
    return failure{detail::asmjit_error(copied, *set)};
  }
  auto patched = calls.apply(*set, room.writable(), room.executable(), code_bytes, module);
  if (!patched) return forward_error(patched);

  code_desc trimmed = desc;
  trimmed.instructions = address_region{room.executable(), total};
  return module.publish(room, trimmed);
}

/// Publishes the code of `code` into `module`: room of the right size at
/// its final address, then as the overload above. The room goes back on
/// error.
template <class Module>
[[nodiscard]] result<published_code> publish(Module& module, ::asmjit::CodeHolder& code, const code_desc& desc) {
  if (code.hasBaseAddress())
    return failure{errc::invalid_argument};  // no room can be at an address fixed before allocating
  detail::call_fixups calls;
  auto set = detail::prepare(code, calls, detail::code_space_span(module));
  if (!set) return forward_error(set);
  auto room = module.allocate(std::max<std::size_t>(calls.size_with_veneers(code.codeSize()), 1));
  if (!room) return forward_error(room);
  return publish(module, *room, code, desc);
}

// ---------------------------------------------------------------------------

inline std::error_code detail::asmjit_error(::asmjit::Error error, isa set) noexcept {
  const bool out_of_reach = error == ::asmjit::kErrorRelocOffsetOutOfRange ||
                            error == ::asmjit::kErrorInvalidDisplacement ||
                            (set == isa::arm64 && error == ::asmjit::kErrorInvalidRelocEntry);
  if (out_of_reach) return make_error_code(errc::target_out_of_range);
  return {static_cast<int>(error), asmjit_category()};
}

inline result<detail::isa> detail::prepare(::asmjit::CodeHolder& code, call_fixups& calls,
                                           std::uint64_t code_space_span) {
  if (!code.isInitialized()) return failure{errc::unsupported};
  isa set;
  switch (code.arch()) {
    case ::asmjit::Arch::kX64:
      set = isa::x64;
      break;
    case ::asmjit::Arch::kAArch64:
      set = isa::arm64;
      break;
    default:
      return failure{errc::unsupported};
  }
  if (const ::asmjit::Error e = code.flatten(); e != ::asmjit::kErrorOk) return failure{asmjit_error(e, set)};
  if (const ::asmjit::Error e = code.resolveUnresolvedLinks(); e != ::asmjit::kErrorOk) {
    return failure{asmjit_error(e, set)};
  }
  // Prepared once already (a publish that failed after this point)? Then
  // the function labels' links are still there and are collected again.
  std::size_t function_links = 0;
  for (const ::asmjit::LabelEntry* label : code.labelEntries()) {
    const std::int64_t index = function_index_of(*label);
    if (index < 0) continue;
    if (label->isBound()) return failure{errc::invalid_argument};
    for (const ::asmjit::LabelLink* link = label->links(); link != nullptr; link = link->next) {
      const std::size_t section_offset = static_cast<std::size_t>(code.sectionById(link->sectionId)->offset());
      calls.add({.offset = section_offset + link->offset,
                 .bias = static_cast<std::int64_t>(link->rel),
                 .field = field_of(link->format),
                 .index = static_cast<std::uint32_t>(index)});
      ++function_links;
    }
  }
  // Links left unresolved that are not calls to functions: a label that was
  // used and never bound.
  if (code.unresolvedLinkCount() != function_links) return failure{errc::invalid_argument};
  calls.plan_veneers(code_space_span);
  return set;
}

}  // namespace jitcm::adapters
