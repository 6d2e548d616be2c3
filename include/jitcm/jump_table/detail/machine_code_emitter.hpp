// The table logic every machine-code emitter shares: layout, initialisation,
// retargeting. An architecture supplies only its instruction encodings.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../../base/address_region.hpp"
#include "../../base/config.hpp"
#include "../../platform/instruction_cache.hpp"
#include "../../base/result.hpp"
#include "../slot_encoding.hpp"
#include "../table_view.hpp"
#include "../write_scope_opener.hpp"
#include "instruction_bytes.hpp"

namespace jitcm::jump_table::detail {

/// The largest code space in which every slot reaches every instruction with
/// a near branch: two addresses in a space of size S, both aligned to
/// `alignment`, are at most S - alignment apart. Rounded down to 64 KiB.
[[nodiscard]] constexpr std::size_t largest_near_space(std::size_t near_range, std::size_t alignment) noexcept {
  return (near_range + alignment) & ~std::size_t{0xFFFF};
}

template <class T>
[[nodiscard]] T atomic_load(std::uintptr_t address) noexcept {
  return std::atomic_ref<T>{*reinterpret_cast<T*>(address)}.load(std::memory_order_acquire);
}
template <class T>
void atomic_store(std::uintptr_t address, T value) noexcept {
  std::atomic_ref<T>{*reinterpret_cast<T*>(address)}.store(value, std::memory_order_release);
}

/// Checks what every emitter needs of a view before touching memory.
[[nodiscard]] JITCM_DECL result<void> check_view(const table_view& view, std::size_t code_bytes, std::size_t data_bytes,
                                                 std::uint32_t max_functions) noexcept;

/// Layout, per function i (one group of slots, so every slot reaches its
/// neighbours whatever the table size):
///
///   code  code_base + i * group_size:  near slot | far slot | lazy slot
///   data  data_base:                   lazy entry cell, then far target cell i at 8 + 8 i
///
/// Stateless: every member is static. The layout and encode_* members are
/// pure functions, callable from any thread; the others state their own
/// thread safety.
template <slot_encoding Encoding>
struct machine_code_emitter {
  using encoding = Encoding;
  using patch_word = typename Encoding::patch_word;

  static constexpr const char* name = Encoding::name;
  static constexpr bool has_machine_code = true;
  static constexpr std::size_t near_slot_size = Encoding::near_slot_size;
  static constexpr std::size_t far_slot_size = Encoding::far_slot_size;
  static constexpr std::size_t lazy_slot_size = Encoding::lazy_slot_size;
  static constexpr std::size_t far_target_size = 8;
  static constexpr std::size_t group_size = near_slot_size + far_slot_size + lazy_slot_size;
  static constexpr std::size_t near_range = Encoding::near_range;
  static constexpr std::size_t max_code_space_size =
      largest_near_space(Encoding::near_range, Encoding::instruction_alignment);
  static constexpr std::uint32_t max_functions = Encoding::max_functions;
  static constexpr std::size_t lazy_entry_offset = 0;

  static_assert(near_slot_size % sizeof(patch_word) == 0 && Encoding::patch_offset % sizeof(patch_word) == 0 &&
                    group_size % sizeof(patch_word) == 0,
                "jitcm: the patched word of every near slot must stay naturally aligned");

  [[nodiscard]] static constexpr std::size_t code_bytes(std::size_t functions) noexcept {
    return functions * group_size;
  }
  [[nodiscard]] static constexpr std::size_t data_bytes(std::size_t functions) noexcept {
    return (functions + 1) * far_target_size;
  }
  [[nodiscard]] static constexpr std::size_t near_slot_offset(std::size_t i) noexcept { return i * group_size; }
  [[nodiscard]] static constexpr std::size_t far_slot_offset(std::size_t i) noexcept {
    return near_slot_offset(i) + near_slot_size;
  }
  [[nodiscard]] static constexpr std::size_t lazy_slot_offset(std::size_t i) noexcept {
    return far_slot_offset(i) + far_slot_size;
  }
  [[nodiscard]] static constexpr std::size_t far_target_offset(std::size_t i) noexcept {
    return (i + 1) * far_target_size;
  }

  /// The instruction bytes of single slots at given addresses (for tests,
  /// disassemblers and users with their own layouts). Errors:
  /// target_out_of_range, misaligned (a target the branch cannot encode).
  [[nodiscard]] static auto encode_near_slot(std::uintptr_t slot, std::uintptr_t target) noexcept {
    return Encoding::near_slot(slot, target);
  }
  [[nodiscard]] static auto encode_far_slot(std::uintptr_t slot, std::uintptr_t cell) noexcept {
    return Encoding::far_slot(slot, cell);
  }
  [[nodiscard]] static auto encode_lazy_slot(std::uintptr_t slot, std::uint32_t index,
                                             std::uintptr_t entry_cell) noexcept {
    return Encoding::lazy_slot(slot, index, entry_cell);
  }
  /// A module's own lazy-compile entry at `entry`: hands `context` (in the
  /// register lazy_trampoline.hpp's context trampoline reads) and the index
  /// the lazy slot loaded to `trampoline`. Position-dependent: write it at
  /// `entry`. Errors: target_out_of_range (never for the shipped layouts).
  static constexpr std::size_t context_entry_size = Encoding::context_entry_size;
  [[nodiscard]] static auto encode_context_entry(std::uintptr_t entry, std::uintptr_t context,
                                                 std::uintptr_t trampoline) noexcept {
    return Encoding::context_entry(entry, context, trampoline);
  }

  /// Whether a near slot at `slot` can branch straight to `target`.
  [[nodiscard]] static bool reaches_near(std::uintptr_t slot, std::uintptr_t target) noexcept {
    return Encoding::near_branch(slot, target).has_value();
  }

  /// Writes every slot of the table: lazy slot i loads i and jumps to
  /// `lazy_entry`; far target i is lazy slot i; near slot i branches to lazy
  /// slot i (routing::near) or to far slot i (routing::far_only).
  /// Precondition: the code area is writable (inside a write scope over it)
  /// and no thread runs the table yet.
  /// Errors (nothing written then): invalid_argument (null entry or bases),
  /// misaligned, size_overflow, limit_exceeded (too many functions),
  /// target_out_of_range (the data area is beyond the slots' reach).
  /// Thread safety: none; one initialisation per table before publication.
  [[nodiscard]] static result<void> initialize(const table_view& view, std::uintptr_t lazy_entry,
                                               routing route = routing::near) noexcept {
    if (lazy_entry == 0) return failure{errc::invalid_argument};
    if (auto ok = check_view(view, code_bytes(view.slots), data_bytes(view.slots), max_functions); !ok) {
      return ok;
    }
    // Reach only shrinks towards the ends of the table: if the first and the
    // last group encode, all do, and a failure leaves memory untouched.
    if (view.slots > 0) {
      for (const std::uint32_t i : {std::uint32_t{0}, view.slots - 1}) {
        if (auto ok = encode_group(view, i, route); !ok) return forward_error(ok);
      }
    }
    atomic_store<std::uint64_t>(view.data_writable_for(view.data_base + lazy_entry_offset), lazy_entry);
    for (std::uint32_t i = 0; i < view.slots; ++i) {
      const auto group = encode_group(view, i, route);
      if (!group) return forward_error(group);  // unreachable: the ends encoded
      std::memcpy(reinterpret_cast<void*>(view.code_writable_for(view.code_base + near_slot_offset(i))), group->data(),
                  group_size);
      atomic_store<std::uint64_t>(view.data_writable_for(view.data_base + far_target_offset(i)),
                                  view.code_base + lazy_slot_offset(i));
    }
    if constexpr (Encoding::is_host) platform::flush_instruction_cache(view.code_base, code_bytes(view.slots));
    return {};
  }

  /// The address callers call for function i: its near slot; 0 when i is out of range.
  /// Thread safety: any thread.
  [[nodiscard]] static std::uintptr_t call_target(const table_view& view, std::uint32_t i) noexcept {
    return i < view.slots ? view.code_base + near_slot_offset(i) : 0;
  }

  /// Where a call through slot i goes now (following the far slot when the
  /// near slot routes there), or 0 when i is out of range.
  /// Thread safety: any thread; concurrent with patch it sees the old or the new target.
  [[nodiscard]] static std::uintptr_t current_target(const table_view& view, std::uint32_t i) noexcept {
    if (i >= view.slots) return 0;
    const std::uintptr_t slot = view.code_base + near_slot_offset(i);
    const auto word = atomic_load<patch_word>(slot + Encoding::patch_offset);
    const std::uintptr_t branch = Encoding::near_branch_target(slot, word);
    if (branch == view.code_base + far_slot_offset(i)) {
      return static_cast<std::uintptr_t>(atomic_load<std::uint64_t>(view.data_base + far_target_offset(i)));
    }
    return branch;
  }

  /// Retargets function i to `target`. In near range, the near slot's branch
  /// is replaced by one aligned atomic store inside a scope from
  /// `open_write_scope`; beyond it, the far target cell is replaced by one
  /// aligned atomic 8-byte store (no protection change) and the near slot is
  /// made to branch to the far slot if it does not already. The far target
  /// is kept equal to the current target either way. Then the instruction
  /// cache is flushed and, on AArch64 and RISC-V, every thread's instruction
  /// stream synchronised, so no core runs the old branch once patch returns.
  ///
  /// Safe while other threads execute the slot: each call runs the old or
  /// the new target, never a torn instruction, provided the write scope does
  /// not take execute permission away from the slot's page (dual_mapping and
  /// rwx do not; mprotect_toggle does: use routing::far_only and patch_far).
  /// Errors (the slot unchanged then): out_of_range (i), invalid_argument
  /// (null target), misaligned (target not on an instruction boundary the
  /// branch can encode), the opener's error. After the new branch is stored:
  /// the scope's end() error; an instruction-stream synchronisation error
  /// (not errc::unsupported, reported by kernels without membarrier, where
  /// the flush is all that can be done).
  /// Thread safety: any thread; patches of one slot must not race each other
  /// (the code manager serialises them; a write scope under mprotect_toggle
  /// does too).
  template <write_scope_opener Opener>
  [[nodiscard]] static result<void> patch(const table_view& view, std::uint32_t i, std::uintptr_t target,
                                          Opener&& open_write_scope) noexcept {
    if (auto ok = check_target(view, i, target); !ok) return ok;
    const std::uintptr_t slot = view.code_base + near_slot_offset(i);
    auto direct = Encoding::near_branch(slot, target);
    if (!direct && direct.error() != make_error_code(errc::target_out_of_range)) return forward_error(direct);
    // A near slot always reaches the far slot beside it.
    const patch_word word = direct ? *direct : *Encoding::near_branch(slot, view.code_base + far_slot_offset(i));

    const std::uintptr_t word_address = slot + Encoding::patch_offset;
    const std::uintptr_t cell = view.data_base + far_target_offset(i);
    if (atomic_load<patch_word>(word_address) == word) {
      atomic_store<std::uint64_t>(view.data_writable_for(cell), target);
      return {};
    }
    auto scope = open_write_scope(address_region{word_address, sizeof(patch_word)});
    if (!scope) return failure{scope.error()};
    atomic_store<std::uint64_t>(view.data_writable_for(cell), target);
    atomic_store<patch_word>(view.code_writable_for(word_address), word);
    if constexpr (Encoding::is_host) platform::flush_instruction_cache(word_address, sizeof(patch_word));
    if (auto ended = (*scope).end(); !ended) return ended;
    return synchronize();
  }

  /// Retargets function i by storing its far target only: one aligned atomic
  /// 8-byte store to the data area, no protection change, no flush (the far
  /// slot loads its target as data). Requires the near slot to route through
  /// the far slot (routing::far_only, or a patch that fell back to it).
  /// Errors (nothing stored): out_of_range, invalid_argument, misaligned as
  /// patch; unsupported when the near slot branches elsewhere.
  /// Thread safety: any thread, while other threads execute the slot.
  [[nodiscard]] static result<void> patch_far(const table_view& view, std::uint32_t i, std::uintptr_t target) noexcept {
    if (auto ok = check_target(view, i, target); !ok) return ok;
    const std::uintptr_t slot = view.code_base + near_slot_offset(i);
    const auto word = atomic_load<patch_word>(slot + Encoding::patch_offset);
    if (Encoding::near_branch_target(slot, word) != view.code_base + far_slot_offset(i)) {
      return failure{errc::unsupported};
    }
    atomic_store<std::uint64_t>(view.data_writable_for(view.data_base + far_target_offset(i)), target);
    return {};
  }

 private:
  [[nodiscard]] static result<void> check_target(const table_view& view, std::uint32_t i,
                                                 std::uintptr_t target) noexcept {
    if (i >= view.slots) return failure{errc::out_of_range};
    if (target == 0) return failure{errc::invalid_argument};
    if (target % Encoding::instruction_alignment != 0) return failure{errc::misaligned};
    return {};
  }

  [[nodiscard]] static result<slot_bytes<group_size>> encode_group(const table_view& view, std::uint32_t i,
                                                                   routing route) noexcept {
    const std::uintptr_t near = view.code_base + near_slot_offset(i);
    const std::uintptr_t far = view.code_base + far_slot_offset(i);
    const std::uintptr_t lazy = view.code_base + lazy_slot_offset(i);
    auto near_bytes = Encoding::near_slot(near, route == routing::near ? lazy : far);
    if (!near_bytes) return forward_error(near_bytes);
    auto far_bytes = Encoding::far_slot(far, view.data_base + far_target_offset(i));
    if (!far_bytes) return forward_error(far_bytes);
    auto lazy_bytes = Encoding::lazy_slot(lazy, view.first_index + i, view.data_base + lazy_entry_offset);
    if (!lazy_bytes) return forward_error(lazy_bytes);
    slot_bytes<group_size> group{};
    std::memcpy(group.data(), near_bytes->data(), near_slot_size);
    std::memcpy(group.data() + near_slot_size, far_bytes->data(), far_slot_size);
    std::memcpy(group.data() + near_slot_size + far_slot_size, lazy_bytes->data(), lazy_slot_size);
    return group;
  }

  [[nodiscard]] static result<void> synchronize() noexcept {
    if constexpr (Encoding::is_host && Encoding::needs_instruction_sync) {
      auto synced = platform::synchronize_instruction_streams();
      if (!synced && synced.error() != make_error_code(errc::unsupported)) return synced;
    }
    return {};
  }
};

}  // namespace jitcm::jump_table::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/machine_code_emitter.ipp"  // IWYU pragma: export
#endif
