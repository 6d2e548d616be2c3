// jump_table::emitter_traits: the optional members of a jump_table_emitter,
// with their defaults filled in. The core reads these, never the emitter's
// optional members directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../base/result.hpp"
#include "concept.hpp"
#include "table_view.hpp"

namespace jitcm::jump_table {

/// What an emitter says beyond the required members (see the OPTIONAL rows
/// of the table in concept.hpp). Specialise it to describe an emitter you
/// cannot change.
///
/// | expression | result | default when E does not say |
/// |------------|--------|-----------------------------|
/// | `max_code_space_size` | `size_t` constant | no limit |
/// | `max_functions` | `uint32_t` constant | 2^32 - 1 |
/// | `has_machine_code` | `bool` constant | false |
/// | `initialize(v, entry, routing)` | `result<void>` | `E::initialize(v, entry)`; for routing::far_only with machine code, unsupported |
/// | `lazy_target(v, i, entry)` | `uintptr_t` | with machine code: slot i's lazy slot; without: `entry` |
/// | `has_context_entry`, `context_entry_size`, `encode_context_entry(at, context, trampoline)` | | false: no per-module lazy entry |
///
/// Thread safety: every member is a pure function or a constant, except
/// initialize (as E's).
template <jump_table_emitter E>
struct emitter_traits {
  static constexpr std::size_t max_code_space_size = [] {
    if constexpr (requires { std::size_t{E::max_code_space_size}; }) return std::size_t{E::max_code_space_size};
    return std::numeric_limits<std::size_t>::max();
  }();

  static constexpr std::uint32_t max_functions = [] {
    if constexpr (requires { std::uint32_t{E::max_functions}; }) return std::uint32_t{E::max_functions};
    return std::numeric_limits<std::uint32_t>::max();
  }();

  static constexpr bool has_machine_code = [] {
    if constexpr (requires { bool{E::has_machine_code}; }) return bool{E::has_machine_code};
    return false;
  }();

  [[nodiscard]] static result<void> initialize(const table_view& view, std::uintptr_t entry, routing route) noexcept {
    if constexpr (requires { E::initialize(view, entry, route); }) {
      return E::initialize(view, entry, route);
    } else {
      // Without machine code every retarget is a data store: routes do not differ.
      if (has_machine_code && route != routing::near) return failure{errc::unsupported};
      return E::initialize(view, entry);
    }
  }

  /// Where slot i leads once its code is removed.
  [[nodiscard]] static std::uintptr_t lazy_target(const table_view& view, std::uint32_t i,
                                                  std::uintptr_t entry) noexcept {
    if constexpr (has_machine_code) {
      return view.code_base + E::lazy_slot_offset(i);
    } else {
      return entry;
    }
  }

  static constexpr bool has_context_entry = requires(std::uintptr_t a) {
    std::size_t{E::context_entry_size};
    E::encode_context_entry(a, a, a);
  };

  static constexpr std::size_t context_entry_size = [] {
    if constexpr (has_context_entry) return std::size_t{E::context_entry_size};
    return std::size_t{0};
  }();

  /// The bytes of a per-module lazy entry at `at`; only when has_context_entry.
  [[nodiscard]] static auto encode_context_entry(std::uintptr_t at, std::uintptr_t context,
                                                 std::uintptr_t trampoline) noexcept requires has_context_entry {
    return E::encode_context_entry(at, context, trampoline);
  }
};

}  // namespace jitcm::jump_table
