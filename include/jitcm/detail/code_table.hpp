// A module's code table: which code each jump-table slot leads to.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "../base/detail/owned_array.hpp"
#include "../base/result.hpp"

namespace jitcm::detail {

/// One entry per slot: the code installed for it, or null while the slot
/// runs its lazy-compile slot. Entries change with release stores, under
/// the owner's lock (native_module: `mutex_`), right after the jump tables
/// were retargeted; readers without that lock load them with acquire.
class code_table {
 public:
  /// No entries; create() makes a table to use.
  code_table() = default;

  /// A table of `slots` null entries. Errors: out_of_memory.
  [[nodiscard]] static result<code_table> create(std::uint32_t slots) noexcept;

  /// The entry, read by the owner under its lock.
  [[nodiscard]] const code* at(std::uint32_t slot) const noexcept {
    return entries_[slot].load(std::memory_order_relaxed);
  }
  /// The entry, read without the owner's lock.
  [[nodiscard]] const code* load(std::uint32_t slot) const noexcept {
    return entries_[slot].load(std::memory_order_acquire);
  }
  /// The address slot `slot` leads to (0: its lazy-compile slot).
  [[nodiscard]] std::uintptr_t target(std::uint32_t slot) const noexcept { return address_of(at(slot)); }

  /// Installs `c` (null: none) for `slot`, once the jump tables lead there.
  void set(std::uint32_t slot, const code* c) noexcept {
    const code* before = at(slot);
    entries_[slot].store(c, std::memory_order_release);
    if (before == nullptr && c != nullptr) ++installed_;
    if (before != nullptr && c == nullptr) --installed_;
  }

  /// How many slots have code installed.
  [[nodiscard]] std::size_t installed() const noexcept { return installed_; }

  [[nodiscard]] static std::uintptr_t address_of(const code* c) noexcept {
    return c != nullptr ? c->instruction_start() : 0;
  }

 private:
  owned_array<std::atomic<const code*>> entries_;
  std::size_t installed_ = 0;
};

}  // namespace jitcm::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/code_table.ipp"  // IWYU pragma: export
#endif
