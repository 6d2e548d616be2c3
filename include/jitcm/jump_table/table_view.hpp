// Where one code space's jump tables live: the addresses an emitter reads,
// writes and hands out.
#pragma once

#include <cstdint>

namespace jitcm::jump_table {

/// One code space's jump tables for `functions` functions, as laid out by an
/// emitter `E`:
///
///   code  [code_base, code_base + E::code_bytes(functions))  slots (executable)
///   data  [data_base, data_base + E::data_bytes(functions))  far targets, the
///                                                           lazy entry, or the
///                                                           portable pointers
///
/// Each area has an executable-view address (what runs and what callers see)
/// and a writable one (where the bytes are stored: the same address unless the
/// space is dual-mapped; see protection::strategy's `writable()`). The data
/// area is never executable and stays writable, so storing a far target
/// changes no page protection. Both bases must be 8-byte aligned.
///
/// A view is a plain value: copying it copies addresses, not tables.
struct table_view {
  std::uintptr_t code_base = 0;      ///< executable address of the first slot
  std::uintptr_t code_writable = 0;  ///< where the byte at code_base is written
  std::uintptr_t data_base = 0;      ///< address of the data area as the slots read it
  std::uintptr_t data_writable = 0;  ///< where the byte at data_base is written
  std::uint32_t slots = 0;           ///< slots per table: indices 0 .. slots - 1
  /// The function index of slot 0: lazy slot i hands `first_index + i` to the
  /// lazy entry, so a module whose first functions are imports (and have no
  /// slot) still reports function indices.
  std::uint32_t first_index = 0;

  /// Writable address of the executable byte at `executable_address` in the code area.
  [[nodiscard]] constexpr std::uintptr_t code_writable_for(std::uintptr_t executable_address) const noexcept {
    return executable_address - code_base + code_writable;
  }
  /// Writable address of the data byte at `data_address`.
  [[nodiscard]] constexpr std::uintptr_t data_writable_for(std::uintptr_t data_address) const noexcept {
    return data_address - data_base + data_writable;
  }
};

/// How initialize() wires the near slots.
enum class routing {
  /// Near slots branch straight to their lazy slot, and patch() keeps them
  /// branching straight to targets in range. Patching a near slot writes
  /// code, so it needs a write scope.
  near,
  /// Near slots branch to their far slot once and for all; every retarget is
  /// one store to the data area (patch_far), with no write scope. The choice
  /// when the code pages must not change protection while other threads run
  /// them (protection::mprotect_toggle makes a page non-executable for the
  /// length of a write scope).
  far_only,
};

}  // namespace jitcm::jump_table
