// The code_allocator concept: what native_module needs from an allocator,
// and the limits a module hands the allocator it creates.
//
// `a` is an `A&`, `ca` a `const A&`, `n` a size, `r` an address_region, `b`
// a `const A::block&`, `p` an address, `limits` an allocator::module_limits.
//
// | expression             | result                   | OPTIONAL/default | guarantees |
// |------------------------|--------------------------|------------------|------------|
// | `A a{limits}`          |                          | required | no memory reserved until the first allocate; every code space `limits.max_code_space_size` at most, with `space_code_header` executable and `space_data_header` read-write bytes at its start; committed bytes within `max_committed` and `budget` |
// | `typename A::block`    | `code_block`-like        | required | `executable()`, `writable()`, `size()`, `region()` |
// | `typename A::write_scope` | movable, `end()` returning `result<void>` | required | while it lives the thread may write its region through `writable()`; `end()` reports a failed protection change |
// | `a.allocate(n)`        | `result<A::block>`       | required | aligned, in committed pages; reserves a code space when none has room. Errors: invalid_argument (n == 0), size_overflow, limit_exceeded, address_space_exhausted, the OS's error; nothing changed on error |
// | `a.free(b)`            | `result<void>`           | required | gives `b` back; wholly free pages are decommitted, at once or later (basic_allocator keeps up to options::max_spare_committed bytes). Errors: not_owned (foreign or null), double_free, invalid_argument (size differs from the block handed out), for an allocator that decommits within free the OS's error of a refused decommit (the block stays live); nothing changed on error |
// | `a.begin_write(r)`     | `result<A::write_scope>` | required | the W^X write scope of the code space holding `r`; out_of_range when no single space holds it, not_committed when its pages are not committed; nothing changed on error |
// | `ca.writable(p)`       | `std::uintptr_t`         | required | where to write what executes at `p` |
// | `ca.code_spaces()`     | sized range of `code_space` | required | every space in creation order; only grows |
// | `ca.contains(p)`       | `bool`                   | required | `p` lies in one of the code spaces |
// | `ca.stats()`           | `allocator_stats`        | required | reserved, committed, live, freed, code_spaces, spare |
// | `ca.write_revokes_execute()` | `bool`             | OPTIONAL: defaults to: `true` | true: while a write scope is open, its pages are not executable for any thread (the W^X strategy's trait, protection::strategy_traits); modules then retarget slots without writing code pages (far-only routing). Never changes during the allocator's life |
//
// The core reads the optional member only through
// `allocator::allocator_traits<A>` (allocator_traits.hpp). What else an
// allocator offers (allocate_in_region, its own options) is its own
// business: the core never calls it.
//
// Thread safety: allocate, free, contains, writable and stats may be called
// concurrently; begin_write follows the W^X strategy; code_spaces() must
// not race with a call that may reserve a space (allocate).
//
// Every jitcm::allocator::basic_allocator conforms. A minimal conforming
// allocator (one fixed buffer, never freeing; compiled in
// tests/core/test_minimal_policies.cpp) has this shape:
//
//   struct arena {
//     using block = jitcm::code_block;
//     using write_scope = jitcm::protection::rwx::write_scope;
//     explicit arena(const jitcm::allocator::module_limits&);
//     jitcm::result<block> allocate(std::size_t);
//     jitcm::result<void> free(const block&);
//     jitcm::result<write_scope> begin_write(jitcm::address_region);
//     std::uintptr_t writable(std::uintptr_t) const;
//     std::span<const jitcm::code_space> code_spaces() const;
//     bool contains(std::uintptr_t) const;
//     jitcm::allocator_stats stats() const;
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>

#include "../base/address_region.hpp"
#include "../detail/requirement.hpp"
#include "../base/result.hpp"
#include "code_block.hpp"
#include "commit_budget.hpp"

namespace jitcm {

/// A block handed out by a code allocator.
template <class B>
concept code_block_like = std::copyable<B> && requires(const B& b) {
  { b.executable() } -> std::same_as<std::uintptr_t>;
  { b.writable() } -> std::same_as<std::uintptr_t>;
  { b.size() } -> std::same_as<std::size_t>;
  { b.region() } -> std::same_as<address_region>;
};

namespace allocator {

/// What a module decides about the code spaces of the allocator it creates:
/// the module's own options, its jump tables' sizes, and the manager's budget.
struct module_limits {
  /// No code space is larger (the module's limit, lowered to what its
  /// jump-table slots reach).
  std::size_t max_code_space_size = 0;
  /// Committed bytes of this allocator, headers included; 0 is unlimited.
  std::size_t max_committed = 0;
  /// Committed bytes shared with other allocators; nullptr for none.
  commit_budget* budget = nullptr;
  /// Executable bytes at the start of every code space (jump-table slots).
  std::size_t space_code_header = 0;
  /// Read-write bytes after them, on pages of their own (jump-table data).
  std::size_t space_data_header = 0;
  /// Size of the first code space (module_options::initial_reservation); 0: the allocator's default.
  std::size_t initial_reservation = 0;
  /// Where code spaces should lie (module_options::preferred_range); empty:
  /// anywhere.
  address_region preferred_range{};
};

/// The pieces of jitcm::code_allocator, one per required member.
namespace requirement {

JITCM_REQUIREMENT(block, "Allocator", "has no member type `block` with executable(), writable(), size() and region()",
                  code_block_like<typename Policy::block>);
JITCM_REQUIREMENT(
    write_scope, "Allocator", "has no movable member type `write_scope` with `end()` returning jitcm::result<void>",
    std::movable<typename Policy::write_scope>&& requires(typename Policy::write_scope& s) {
      { s.end() } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(constructible_from_limits, "Allocator",
                  "cannot be constructed from `const jitcm::allocator::module_limits&`",
                  std::constructible_from<Policy, const module_limits&>);
JITCM_REQUIREMENT(
    allocate, "Allocator", "has no member `allocate(bytes)` returning jitcm::result<block>",
    requires(Policy& a, std::size_t n) {
      { a.allocate(n) } -> std::same_as<result<typename Policy::block>>;
    });
JITCM_REQUIREMENT(
    free, "Allocator", "has no member `free(block)` returning jitcm::result<void>",
    requires(Policy& a, const typename Policy::block& b) {
      { a.free(b) } -> std::same_as<result<void>>;
    });
JITCM_REQUIREMENT(
    begin_write, "Allocator", "has no member `begin_write(region)` returning jitcm::result<write_scope>",
    requires(Policy& a, address_region r) {
      { a.begin_write(r) } -> std::same_as<result<typename Policy::write_scope>>;
    });
JITCM_REQUIREMENT(
    writable, "Allocator", "has no member `writable(address) const` returning std::uintptr_t",
    requires(const Policy& a, std::uintptr_t p) {
      { a.writable(p) } -> std::same_as<std::uintptr_t>;
    });
JITCM_REQUIREMENT(
    code_spaces, "Allocator", "has no member `code_spaces() const` returning a sized range of jitcm::code_space",
    requires(const Policy& a) {
      { a.code_spaces() } -> std::ranges::sized_range;
      { *std::ranges::begin(a.code_spaces()) } -> std::convertible_to<const code_space&>;
    });
JITCM_REQUIREMENT(
    contains, "Allocator", "has no member `contains(address) const` returning bool",
    requires(const Policy& a, std::uintptr_t p) {
      { a.contains(p) } -> std::same_as<bool>;
    });
JITCM_REQUIREMENT(
    stats, "Allocator", "has no member `stats() const` returning jitcm::allocator_stats", requires(const Policy& a) {
      { a.stats() } -> std::same_as<allocator_stats>;
    });

}  // namespace requirement

using allocator_requirements = jitcm::detail::requirement_list<
    requirement::block_piece, requirement::write_scope_piece, requirement::constructible_from_limits_piece,
    requirement::allocate_piece, requirement::free_piece, requirement::begin_write_piece, requirement::writable_piece,
    requirement::code_spaces_piece, requirement::contains_piece, requirement::stats_piece>;

}  // namespace allocator

template <class A>
concept code_allocator = allocator::allocator_requirements::satisfied_by<A>;

}  // namespace jitcm
