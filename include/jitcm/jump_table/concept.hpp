// The jump_table_emitter concept: what native_module needs of a jump-table
// policy to lay out, initialise and retarget the per-function slots of a
// code space, and nothing more.
//
// All members are static; an emitter has no state (it costs no bytes as a
// policy). `v` is a table_view, `i` a function's slot (std::uint32_t), `t` a
// code address, `entry` the lazy-compile entry, `open` a write_scope_opener.
//
// | expression               | result           | OPTIONAL/default | guarantees |
// |--------------------------|------------------|------------------|------------|
// | `E::code_bytes(n)`       | `size_t`, constant expression | required | code-area bytes (executable, at the start of every code space) the tables of n functions need; 0: no machine code, no write scope is ever opened for the table |
// | `E::data_bytes(n)`       | `size_t`, constant expression | required | data-area bytes (read-write, never executable) they need |
// | `E::initialize(v, entry)`| `result<void>`   | required | every slot leads to lazy compilation of its function through `entry`. Code area writable (inside a write scope); nothing written on error |
// | `E::call_target(v, i)`   | `uintptr_t`      | required | the stable address callers call for slot i (0 if i is out of range) |
// | `E::patch(v, i, t, open)`| `result<void>`   | required | calls through i go to t; safe while other threads run the slot; flush and cross-core sync done; opens write scopes only through `open` |
// | `E::patch_far(v, i, t)`  | `result<void>`   | required | the same by data stores only (no write scope), when i routes through the data area (routing::far_only) |
// | `E::initialize(v, entry, routing)` | `result<void>` | OPTIONAL: defaults to: the two-argument form (errc::unsupported for far_only when `has_machine_code`) | as initialize, near slots wired as `routing` says |
// | `E::max_code_space_size` | `size_t` constant | OPTIONAL: defaults to: no limit | in a code space no larger, every slot reaches every instruction |
// | `E::max_functions`       | `uint32_t` constant | OPTIONAL: defaults to: 2^32 - 1 | largest table; a module declaring more slots is refused (limit_exceeded) |
// | `E::has_machine_code`    | `bool` constant  | OPTIONAL: defaults to: false | true: the code area holds slots, and then `E::near_slot_offset(i)`, `E::lazy_slot_offset(i)` and `E::lazy_slot_size` are required (removed code is sent back to slot i's lazy slot; tools are told where the slots are). False: removed code's slot gets `entry` itself |
// | `E::context_entry_size`, `E::encode_context_entry(at, context, trampoline)` | `size_t` constant; `result<bytes>` | OPTIONAL: defaults to: none (modules with a lazy_compile_callback are refused with unsupported) | the per-module lazy entry that passes `context` to the shared trampoline (see lazy_trampoline.hpp) |
//
// The core reads the optional members only through
// `jump_table::emitter_traits<E>` (emitter_traits.hpp). Errors are errc
// values (out_of_range, invalid_argument, misaligned, target_out_of_range,
// limit_exceeded, unsupported) or the write scope's.
//
// The shipped emitters add members of their own (current_target, slot
// sizes and offsets, encode_* helpers): the core needs none of them. A CPU
// is added by writing its jump_table::slot_encoding (slot_encoding.hpp);
// jump_table::detail::machine_code_emitter turns it into an emitter.
//
// A minimal conforming emitter (a pointer table, as tests/core/test_minimal_policies.cpp compiles it):
//
//   struct pointer_table {
//     static constexpr std::size_t code_bytes(std::size_t) { return 0; }
//     static constexpr std::size_t data_bytes(std::size_t n) { return 8 * n; }
//     static jitcm::result<void> initialize(const jitcm::jump_table::table_view& v, std::uintptr_t entry) {
//       for (std::uint32_t i = 0; i < v.slots; ++i) store(v, i, entry);
//       return {};
//     }
//     static std::uintptr_t call_target(const jitcm::jump_table::table_view& v, std::uint32_t i) {
//       return i < v.slots ? v.data_base + 8 * i : 0;
//     }
//     template <jitcm::jump_table::write_scope_opener Open>
//     static jitcm::result<void> patch(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t,
//                                      Open&&) {
//       return patch_far(v, i, t);
//     }
//     static jitcm::result<void> patch_far(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t) {
//       if (i >= v.slots) return jitcm::failure{jitcm::errc::out_of_range};
//       store(v, i, t);
//       return {};
//     }
//     static void store(const jitcm::jump_table::table_view& v, std::uint32_t i, std::uintptr_t t) {
//       std::atomic_ref{*reinterpret_cast<std::uintptr_t*>(v.data_writable_for(v.data_base + 8 * i))}
//           .store(t, std::memory_order_release);
//     }
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../detail/requirement.hpp"
#include "../base/result.hpp"
#include "table_view.hpp"
#include "write_scope_opener.hpp"

namespace jitcm::jump_table {

namespace detail {

template <std::size_t>
struct constant_expression {};

}  // namespace detail

/// The pieces of jitcm::jump_table_emitter, one per required member.
namespace requirement {

JITCM_REQUIREMENT(
    code_bytes, "JumpTable", "has no static constexpr member `code_bytes(n)` returning std::size_t",
    requires(std::size_t n) {
      { Policy::code_bytes(n) } -> std::same_as<std::size_t>;
      typename detail::constant_expression<Policy::code_bytes(1)>;
    });
JITCM_REQUIREMENT(
    data_bytes, "JumpTable", "has no static constexpr member `data_bytes(n)` returning std::size_t",
    requires(std::size_t n) {
      { Policy::data_bytes(n) } -> std::same_as<std::size_t>;
      typename detail::constant_expression<Policy::data_bytes(1)>;
    });
JITCM_REQUIREMENT(
    initialize, "JumpTable", "has no static member `initialize(view, entry)` returning jitcm::result<void>",
    requires(const table_view& v, std::uintptr_t entry) {
      { Policy::initialize(v, entry) } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(
    call_target, "JumpTable", "has no static member `call_target(view, index)` returning std::uintptr_t",
    requires(const table_view& v, std::uint32_t i) {
      { Policy::call_target(v, i) } -> std::same_as<std::uintptr_t>;
    });
JITCM_REQUIREMENT(
    patch, "JumpTable", "has no static member `patch(view, index, target, open)` returning jitcm::result<void>",
    requires(const table_view& v, std::uint32_t i, std::uintptr_t t, already_writable open) {
      { Policy::patch(v, i, t, open) } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(
    patch_far, "JumpTable", "has no static member `patch_far(view, index, target)` returning jitcm::result<void>",
    requires(const table_view& v, std::uint32_t i, std::uintptr_t t) {
      { Policy::patch_far(v, i, t) } -> std::same_as<result<void>>;
    });
/// Only an emitter that declares machine code must say where its slots are.
JITCM_REQUIREMENT(
    slot_layout, "JumpTable",
    "says `has_machine_code` but has no static members `near_slot_offset(i)`, "
    "`lazy_slot_offset(i)` and `lazy_slot_size`",
    !requires { requires bool{Policy::has_machine_code}; } ||
        requires(std::size_t i) {
          { Policy::near_slot_offset(i) } -> std::convertible_to<std::size_t>;
          { Policy::lazy_slot_offset(i) } -> std::convertible_to<std::size_t>;
          { Policy::lazy_slot_size } -> std::convertible_to<std::size_t>;
        });

}  // namespace requirement

using emitter_requirements =
    jitcm::detail::requirement_list<requirement::code_bytes_piece, requirement::data_bytes_piece,
                                    requirement::initialize_piece, requirement::call_target_piece,
                                    requirement::patch_piece, requirement::patch_far_piece,
                                    requirement::slot_layout_piece>;

}  // namespace jitcm::jump_table

namespace jitcm {

template <class E>
concept jump_table_emitter = jump_table::emitter_requirements::satisfied_by<E>;

}  // namespace jitcm
