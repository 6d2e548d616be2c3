// The jump_table_emitter concept: what native_module needs of a jump-table
// policy to lay out, initialise and retarget the per-function slots of a
// code space.
//
// All members are static; an emitter has no state (it costs no bytes as a
// policy). `v` is a table_view, `i` a function index, `t` a code address,
// `open` a write_scope_opener.
//
// | expression                   | result           | guarantees |
// |------------------------------|------------------|------------|
// | `E::name`                    | `const char*`    | for diagnostics |
// | `E::has_machine_code`        | `bool` constexpr | false: call_target is a cell holding a code address (portable) |
// | `E::near_slot_size`          | `size_t` constexpr | code bytes of one near slot |
// | `E::far_slot_size`           | `size_t` constexpr | code bytes of one far slot |
// | `E::lazy_slot_size`          | `size_t` constexpr | code bytes of one lazy slot |
// | `E::far_target_size`         | `size_t` constexpr | 8: bytes of one far target cell in the data area |
// | `E::near_range`              | `size_t` constexpr | a near slot reaches any target with abs(target - slot) <= near_range |
// | `E::max_code_space_size`     | `size_t` constexpr | in a code space no larger, every near slot reaches every instruction |
// | `E::code_bytes(n)`           | `size_t` constexpr | code-area bytes the tables of n functions need |
// | `E::data_bytes(n)`           | `size_t` constexpr | data-area bytes (far targets, lazy entry, portable cells) |
// | `E::near_slot_offset(i)`, `E::far_slot_offset(i)`, `E::lazy_slot_offset(i)` | `size_t` constexpr | offsets of function i's slots in the code area |
// | `E::far_target_offset(i)`    | `size_t` constexpr | offset of function i's cell in the data area (8-aligned) |
// | `E::initialize(v, entry)`    | `result<void>`   | every lazy slot hands its index to `entry`; every call target leads to its lazy slot. Code area writable (inside a write scope); nothing written on error |
// | `E::call_target(v, i)`       | `uintptr_t`      | the stable address callers call for i (0 if i is out of range) |
// | `E::current_target(v, i)`    | `uintptr_t`      | where a call through i goes now |
// | `E::patch(v, i, t, open)`    | `result<void>`   | calls through i go to t; safe while other threads run the slot; flush and cross-core sync done |
// | `E::patch_far(v, i, t)`      | `result<void>`   | the same by one data store, when i routes through its far slot; no write scope |
//
// Errors are errc values (out_of_range, invalid_argument, misaligned,
// target_out_of_range, limit_exceeded, unsupported) or the write scope's.
//
// A minimal conforming emitter (a pointer table, like jump_table::portable):
//
//   struct pointer_table {
//     static constexpr const char* name = "pointer_table";
//     static constexpr bool has_machine_code = false;
//     static constexpr std::size_t near_slot_size = 0, far_slot_size = 0, lazy_slot_size = 0;
//     static constexpr std::size_t far_target_size = 8;
//     static constexpr std::size_t near_range = SIZE_MAX, max_code_space_size = SIZE_MAX;
//     static constexpr std::size_t code_bytes(std::size_t) { return 0; }
//     static constexpr std::size_t data_bytes(std::size_t n) { return 8 * n; }
//     static constexpr std::size_t near_slot_offset(std::size_t) { return 0; }
//     static constexpr std::size_t far_slot_offset(std::size_t) { return 0; }
//     static constexpr std::size_t lazy_slot_offset(std::size_t) { return 0; }
//     static constexpr std::size_t far_target_offset(std::size_t i) { return 8 * i; }
//     static result<void> initialize(const table_view& v, std::uintptr_t entry, routing = routing::near);
//     static std::uintptr_t call_target(const table_view& v, std::uint32_t i) { return v.data_base + 8 * i; }
//     static std::uintptr_t current_target(const table_view& v, std::uint32_t i);
//     template <write_scope_opener O>
//     static result<void> patch(const table_view& v, std::uint32_t i, std::uintptr_t t, O&&);
//     static result<void> patch_far(const table_view& v, std::uint32_t i, std::uintptr_t t);
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../result.hpp"
#include "table_view.hpp"
#include "write_scope_opener.hpp"

namespace jitcm {

namespace jump_table::detail {

template <std::size_t>
struct constant_expression {};

}  // namespace jump_table::detail

template <class E>
concept jump_table_emitter =
    requires(const jump_table::table_view& view, std::uint32_t index, std::uintptr_t address, std::size_t count,
             jump_table::already_writable open) {
      { E::name } -> std::convertible_to<const char*>;
      { E::has_machine_code } -> std::convertible_to<bool>;
      // Sizes and offsets must be usable in constant expressions, so that
      // code spaces are laid out at compile time.
      typename jump_table::detail::constant_expression<E::near_slot_size>;
      typename jump_table::detail::constant_expression<E::far_slot_size>;
      typename jump_table::detail::constant_expression<E::lazy_slot_size>;
      typename jump_table::detail::constant_expression<E::far_target_size>;
      typename jump_table::detail::constant_expression<E::near_range>;
      typename jump_table::detail::constant_expression<E::max_code_space_size>;
      typename jump_table::detail::constant_expression<E::code_bytes(1)>;
      typename jump_table::detail::constant_expression<E::data_bytes(1)>;
      typename jump_table::detail::constant_expression<E::near_slot_offset(1)>;
      typename jump_table::detail::constant_expression<E::far_slot_offset(1)>;
      typename jump_table::detail::constant_expression<E::lazy_slot_offset(1)>;
      typename jump_table::detail::constant_expression<E::far_target_offset(1)>;
      { E::code_bytes(count) } -> std::same_as<std::size_t>;
      { E::data_bytes(count) } -> std::same_as<std::size_t>;
      { E::initialize(view, address) } -> std::same_as<result<void>>;
      { E::call_target(view, index) } -> std::same_as<std::uintptr_t>;
      { E::current_target(view, index) } -> std::same_as<std::uintptr_t>;
      { E::patch(view, index, address, open) } -> std::same_as<result<void>>;
      { E::patch_far(view, index, address) } -> std::same_as<result<void>>;
    } && (E::far_target_size == 8);

}  // namespace jitcm
