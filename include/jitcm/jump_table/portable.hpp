// The portable jump table: function pointers, no machine code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../base/config.hpp"
#include "../base/result.hpp"
#include "detail/machine_code_emitter.hpp"
#include "table_view.hpp"
#include "write_scope_opener.hpp"

namespace jitcm::jump_table {

/// A table of 8-byte code addresses in the data area; callers load cell i
/// and call what it holds (`has_machine_code == false` says call_target is
/// such a cell, not code). Retargeting is one atomic store; nothing is
/// executable, so it works on any CPU, under any W^X strategy, and suits
/// interpreters. There are no lazy slots: initialize stores the lazy entry
/// in every cell, and since the entry cannot tell which cell it was loaded
/// from, the caller passes the function index itself (an interpreter knows
/// it).
///
/// Thread safety: call_target, current_target, patch and patch_far from any
/// thread, concurrently with callers loading the cells (acquire loads see a
/// whole address); initialize before publication.
struct portable {
  static constexpr const char* name = "portable";
  static constexpr bool has_machine_code = false;
  static constexpr std::size_t near_slot_size = 0;
  static constexpr std::size_t far_slot_size = 0;
  static constexpr std::size_t lazy_slot_size = 0;
  static constexpr std::size_t far_target_size = 8;
  /// No branches, so no reach limit.
  static constexpr std::size_t near_range = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_code_space_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::uint32_t max_functions = 0xFFFFFFFFu;

  [[nodiscard]] static constexpr std::size_t code_bytes(std::size_t) noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t data_bytes(std::size_t functions) noexcept {
    return functions * far_target_size;
  }
  [[nodiscard]] static constexpr std::size_t near_slot_offset(std::size_t) noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t far_slot_offset(std::size_t) noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t lazy_slot_offset(std::size_t) noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t far_target_offset(std::size_t i) noexcept { return i * far_target_size; }

  /// Stores `lazy_entry` in every cell. Errors (nothing stored):
  /// invalid_argument (null entry or data base), misaligned, size_overflow.
  [[nodiscard]] static result<void> initialize(const table_view& view, std::uintptr_t lazy_entry,
                                               routing = routing::near) noexcept;

  /// The address of cell i (load it, call what it holds); 0 when i is out of range.
  [[nodiscard]] static std::uintptr_t call_target(const table_view& view, std::uint32_t i) noexcept {
    return i < view.slots ? view.data_base + far_target_offset(i) : 0;
  }

  [[nodiscard]] static std::uintptr_t current_target(const table_view& view, std::uint32_t i) noexcept {
    if (i >= view.slots) return 0;
    return static_cast<std::uintptr_t>(detail::atomic_load<std::uint64_t>(view.data_base + far_target_offset(i)));
  }

  /// One atomic store to cell i; the opener is never called.
  /// Errors (nothing stored): out_of_range (i), invalid_argument (null target).
  template <write_scope_opener Opener>
  [[nodiscard]] static result<void> patch(const table_view& view, std::uint32_t i, std::uintptr_t target,
                                          Opener&&) noexcept {
    return patch_far(view, i, target);
  }
  [[nodiscard]] static result<void> patch_far(const table_view& view, std::uint32_t i, std::uintptr_t target) noexcept;

 private:
  static void store(const table_view& view, std::uint32_t i, std::uintptr_t target) noexcept;
};

}  // namespace jitcm::jump_table

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/portable.ipp"  // IWYU pragma: export
#endif
