// The slot_encoding concept: the instruction bytes of one CPU's jump-table
// slots. jump_table::encoded<Encoding> turns an encoding into a
// jump_table_emitter (layout, initialisation, atomic retargeting, cache
// flush and cross-core sync are shared), so a CPU is added by writing this
// and nothing else.
//
// `slot`, `target`, `cell`, `entry`, `context` and `trampoline` are
// addresses, `word` a `P::patch_word`, `index` a std::uint32_t. Every
// member is static; the encode functions are pure and callable from any
// thread.
//
// | expression                        | result                         | guarantees |
// |-----------------------------------|--------------------------------|------------|
// | `P::name`                         | `const char*`                  | for diagnostics and tools |
// | `P::is_host`                      | `bool` constant                | true when this is the CPU the program runs on: slots are flushed from the instruction cache after writes |
// | `P::needs_instruction_sync`       | `bool` constant                | true when other cores must be made to refetch after a patch (AArch64, RISC-V; not x86-64) |
// | `P::near_slot_size`, `P::far_slot_size`, `P::lazy_slot_size` | `size_t` constants | bytes of each slot; near slot, patch offset and their sum are multiples of `sizeof(patch_word)` |
// | `P::instruction_alignment`        | `size_t` constant              | targets must be aligned to it |
// | `typename P::patch_word`          | unsigned integer               | the naturally aligned word of the near slot that a retarget replaces with one atomic store |
// | `P::patch_offset`                 | `size_t` constant              | where that word lies in the near slot |
// | `P::near_range`                   | `size_t` constant              | a near slot reaches any target with abs(target - slot) <= near_range |
// | `P::max_functions`                | `uint32_t` constant            | the largest index a lazy slot can load |
// | `P::near_branch(slot, target)`    | `result<patch_word>`           | the word that makes the near slot at `slot` branch to `target`; target_out_of_range beyond reach, misaligned |
// | `P::near_branch_target(slot, word)` | `std::uintptr_t`             | where `word` at `slot` branches; 0 when it is no such branch |
// | `P::near_slot(slot, target)`      | `result<slot_bytes<near_slot_size>>` | the whole near slot (padding, landing pad, the word) |
// | `P::far_slot(slot, cell)`         | `result<slot_bytes<far_slot_size>>`  | jumps to the address stored in the 8-byte data `cell` |
// | `P::lazy_slot(slot, index, cell)` | `result<slot_bytes<lazy_slot_size>>` | hands `index` to the entry stored in `cell`, by the CPU's lazy-entry ABI (a scratch register the caller does not use for arguments) |
// | `P::context_entry_size`           | `size_t` constant              | bytes of a module's own lazy entry |
// | `P::context_entry(entry, context, trampoline)` | `result<slot_bytes<context_entry_size>>` | code placed at `entry` that loads `context` into the register lazy_trampoline.hpp's context door reads and jumps to `trampoline`, keeping the index the lazy slot loaded |
//
// `jump_table::encoded` is in <jitcm/jump_table/encoded.hpp>. The shipped
// encodings are jump_table/detail/x64_encoding.hpp,
// arm64_encoding.hpp and riscv64_encoding.hpp. A fourth CPU (the shape;
// tests/core/test_minimal_policies.cpp compiles one that borrows x86-64's
// bytes):
//
//   struct my_cpu_encoding {
//     static constexpr const char* name = "my_cpu";
//     static constexpr bool is_host = false, needs_instruction_sync = true;
//     static constexpr std::size_t near_slot_size = 8, far_slot_size = 8, lazy_slot_size = 16;
//     static constexpr std::size_t instruction_alignment = 4, patch_offset = 0;
//     using patch_word = std::uint64_t;
//     static constexpr std::size_t near_range = std::size_t{1} << 27;
//     static constexpr std::uint32_t max_functions = 0xFFFFFFFFu;
//     static constexpr std::size_t context_entry_size = 32;
//     static jitcm::result<patch_word> near_branch(std::uintptr_t slot, std::uintptr_t target);
//     static std::uintptr_t near_branch_target(std::uintptr_t slot, patch_word word);
//     static jitcm::result<slot_bytes<8>> near_slot(std::uintptr_t slot, std::uintptr_t target);
//     static jitcm::result<slot_bytes<8>> far_slot(std::uintptr_t slot, std::uintptr_t cell);
//     static jitcm::result<slot_bytes<16>> lazy_slot(std::uintptr_t slot, std::uint32_t index, std::uintptr_t cell);
//     static jitcm::result<slot_bytes<32>> context_entry(std::uintptr_t entry, std::uintptr_t context,
//                                                        std::uintptr_t trampoline);
//   };
//   using my_cpu = jitcm::jump_table::encoded<my_cpu_encoding>;   // a jump_table_emitter
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../base/result.hpp"
#include "detail/instruction_bytes.hpp"

namespace jitcm::jump_table {

using detail::slot_bytes;

template <class P>
concept slot_encoding = std::unsigned_integral<typename P::patch_word> &&
    requires(std::uintptr_t address, typename P::patch_word word, std::uint32_t index) {
  { P::name } -> std::convertible_to<const char*>;
  { P::is_host } -> std::convertible_to<bool>;
  { P::needs_instruction_sync } -> std::convertible_to<bool>;
  { P::near_slot_size } -> std::convertible_to<std::size_t>;
  { P::far_slot_size } -> std::convertible_to<std::size_t>;
  { P::lazy_slot_size } -> std::convertible_to<std::size_t>;
  { P::instruction_alignment } -> std::convertible_to<std::size_t>;
  { P::patch_offset } -> std::convertible_to<std::size_t>;
  { P::near_range } -> std::convertible_to<std::size_t>;
  { P::max_functions } -> std::convertible_to<std::uint32_t>;
  { P::context_entry_size } -> std::convertible_to<std::size_t>;
  { P::near_branch(address, address) } -> std::same_as<result<typename P::patch_word>>;
  { P::near_branch_target(address, word) } -> std::same_as<std::uintptr_t>;
  { P::near_slot(address, address) } -> std::same_as<result<slot_bytes<P::near_slot_size>>>;
  { P::far_slot(address, address) } -> std::same_as<result<slot_bytes<P::far_slot_size>>>;
  { P::lazy_slot(address, index, address) } -> std::same_as<result<slot_bytes<P::lazy_slot_size>>>;
  { P::context_entry(address, address, address) } -> std::same_as<result<slot_bytes<P::context_entry_size>>>;
};

}  // namespace jitcm::jump_table
