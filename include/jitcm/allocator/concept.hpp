// The code_allocator concept: what native_module needs from an allocator.
//
// | expression                     | result                         | guarantees |
// |--------------------------------|--------------------------------|------------|
// | `typename A::options`          | aggregate                      | defaults for everything; `alignment`, `max_code_space_size`, `max_committed`, `budget`, `space_code_header`, `space_data_header`, `initial_reservation` |
// | `A{}`, `A{opts}`               |                                | no memory reserved until the first allocate |
// | `typename A::block`            | `code_block`-like              | `rx()`, `rw()`, `size()`, `region()` |
// | `a.allocate(n)`                | `result<A::block>`             | aligned, in committed pages; reserves a code space when none has room. Errors: invalid_argument (n == 0), size_overflow, limit_exceeded, address_space_exhausted, the OS's error; nothing changed on error |
// | `a.allocate_in_region(n, r)`   | `result<A::block>`             | as allocate, inside `r` only; never reserves. Error out_of_memory when `r` has no room |
// | `a.free(b)`                    | `result<void>`                 | gives `b` back; wholly free pages are decommitted, at once or later (basic_allocator keeps up to options::max_spare_committed bytes; bump keeps them). Errors: not_owned (foreign or null), double_free, invalid_argument (size differs from the block handed out), for an allocator that decommits within free the OS's error of a refused decommit (the block stays live); nothing changed on error |
// | `a.begin_write(r)`             | `result<A::write_scope>`       | the W^X write scope of the code space holding `r`; out_of_range when no single space holds it, not_committed when its pages are not committed; nothing changed on error |
// | `a.writable(rx)`               | `std::uintptr_t`               | where to write what executes at `rx` |
// | `a.code_spaces()`              | sized range of `code_space`    | every space in creation order; only grows |
// | `a.contains(p)`                | `bool`                         | `p` lies in one of the code spaces |
// | `a.stats()`                    | `allocator_stats`              | reserved, committed, live, freed, code_spaces, spare |
//
// One OPTIONAL member, read through `allocator_write_revokes_execute(a)`:
//
// | expression                  | result | guarantees | when A lacks it |
// |-----------------------------|--------|------------|-----------------|
// | `a.write_revokes_execute()` | `bool` | true: while a write scope is open, its pages are not executable for any thread (the W^X strategy's trait, protection::strategy_traits); code managers then retarget jump-table slots without writing code pages (far-only routing). Never changes during the allocator's life | OPTIONAL: defaults to: `true` |
//
// Thread safety: allocate, allocate_in_region, free, contains, writable and
// stats may be called concurrently (the allocator holds a mutex);
// begin_write follows the W^X strategy; code_spaces() must not race with a
// call that may reserve a space (allocate).
//
// A minimal conforming allocator is any jitcm::allocator::basic_allocator;
// the shape is:
//
//   struct my_allocator {
//     using options = jitcm::allocator::options;
//     using block = jitcm::code_block;
//     using write_scope = jitcm::protection::rwx::write_scope;
//     my_allocator();
//     explicit my_allocator(const options&);
//     jitcm::result<block> allocate(std::size_t);
//     jitcm::result<block> allocate_in_region(std::size_t, jitcm::address_region);
//     jitcm::result<void> free(const block&);
//     jitcm::result<write_scope> begin_write(jitcm::address_region);
//     std::uintptr_t writable(std::uintptr_t) const;
//     std::span<const jitcm::code_space> code_spaces() const;
//     bool contains(std::uintptr_t) const;
//     jitcm::allocator_stats stats() const;
//     bool write_revokes_execute() const noexcept { return false; }  // optional
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>

#include "../address_region.hpp"
#include "../result.hpp"
#include "code_block.hpp"
#include "commit_budget.hpp"

namespace jitcm {

/// A block handed out by a code allocator.
template <class B>
concept code_block_like = std::copyable<B> && requires(const B& b) {
  { b.rx() } -> std::same_as<std::uintptr_t>;
  { b.rw() } -> std::same_as<std::uintptr_t>;
  { b.size() } -> std::same_as<std::size_t>;
  { b.region() } -> std::same_as<address_region>;
};

template <class A>
concept code_allocator =
    std::default_initializable<A> && std::constructible_from<A, const typename A::options&> &&
    code_block_like<typename A::block> &&
    requires(A& a, const A& const_a, std::size_t bytes, address_region region, const typename A::block& block,
             std::uintptr_t address) {
      typename A::write_scope;
      { a.allocate(bytes) } -> std::same_as<result<typename A::block>>;
      { a.allocate_in_region(bytes, region) } -> std::same_as<result<typename A::block>>;
      { a.free(block) } -> std::same_as<result<void>>;
      { a.begin_write(region) } -> std::same_as<result<typename A::write_scope>>;
      { const_a.writable(address) } -> std::same_as<std::uintptr_t>;
      { const_a.code_spaces() } -> std::ranges::sized_range;
      { *std::ranges::begin(const_a.code_spaces()) } -> std::convertible_to<const code_space&>;
      { const_a.contains(address) } -> std::same_as<bool>;
      { const_a.stats() } -> std::same_as<allocator_stats>;
    } &&
    requires(typename A::options o) {
      { o.alignment } -> std::convertible_to<std::size_t>;
      { o.max_code_space_size } -> std::convertible_to<std::size_t>;
      { o.max_committed } -> std::convertible_to<std::size_t>;
      { o.budget } -> std::convertible_to<commit_budget*>;
      { o.space_code_header } -> std::convertible_to<std::size_t>;
      { o.space_data_header } -> std::convertible_to<std::size_t>;
      { o.initial_reservation } -> std::convertible_to<std::size_t>;
    };

/// `a.write_revokes_execute()` if A has it, else true (the safe assumption:
/// a write scope may take execute permission away).
template <code_allocator A>
[[nodiscard]] bool allocator_write_revokes_execute(const A& a) noexcept {
  if constexpr (requires { { a.write_revokes_execute() } -> std::convertible_to<bool>; }) {
    return a.write_revokes_execute();
  } else {
    return true;
  }
}

}  // namespace jitcm
