// The W^X strategy concept: how an allocator reserves a code space, commits
// its pages and opens it for writing without a page ever being writable and
// executable at one address (unless the strategy is protection::rwx).
//
// | expression                        | result                    | OPTIONAL/default | guarantees |
// |-----------------------------------|---------------------------|------------------|------------|
// | `S::name`                         | `const char*`             | required | a name for diagnostics |
// | `S::reserve(bytes, hint, align)`  | `result<S::space>`        | required | address space only; nothing committed |
// | `sp.region()`                     | `address_region`          | required | the executable addresses of the space |
// | `sp.commit(r)`                    | `result<void>`            | required | page-aligned `r` inside the space becomes usable in its at-rest protection (RX; RWX for rwx), zero-filled |
// | `sp.commit_data(r)`               | `result<void>`            | required | page-aligned `r` becomes read-write data, never executable, never toggled by write scopes; read at its executable address, written at `writable()` |
// | `sp.decommit(r)`                  | `result<void>`            | required | the pages' memory goes back to the OS; the range stays reserved |
// | `sp.writable(a)`                  | `std::uintptr_t`          | required | where to write the byte that executes at `a` (`a` itself unless dual-mapped) |
// | `sp.begin_write(r)`               | `result<S::write_scope>`  | required | while the scope lives, this thread may write `r` through `writable()`; when the outermost scope ends, protection is back at rest and the instruction cache is flushed for what was written |
// | `scope.end()`                     | `result<void>`            | required | ends the scope early and reports a failed protection change (the destructor ends it otherwise) |
// | `sp.ready()`                      | `result<void>`            | OPTIONAL: defaults to: no error | no error when code may be placed in the space; allocators ask before handing out a block and pass the error on (mprotect_toggle: space_unusable while pages a failed scope left RW cannot be made RX) |
//
// Two OPTIONAL traits, read only through `strategy_traits<S>` (never from S
// directly, never by comparing type names). Each may be a
// `static constexpr bool` or, for a strategy chosen at run time, a
// `static bool f() noexcept`; its answer must not change during the process.
//
// | expression                                    | result | guarantees | when S does not say |
// |-----------------------------------------------|--------|------------|---------------------|
// | `strategy_traits<S>::write_revokes_execute()` | `bool` | true: while a write scope is open on a page, that page is not executable for any thread (mprotect_toggle); false: other threads may run code on the page meanwhile (dual_mapping, rwx, thread_toggle) | OPTIONAL: defaults to: `true` (the safe assumption) |
// | `strategy_traits<S>::exclusive_pages()`       | `bool` | true: allocators give every block pages of its own, and keep blocks off header pages, so a write scope on a new block never touches a page holding published code | OPTIONAL: defaults to: `write_revokes_execute()` |
//
// A strategy with write_revokes_execute() and not exclusive_pages() lets a
// write scope take execute permission from code other threads may be
// running (protection::mprotect_toggle_single_threaded): only for JITs whose
// code never runs on another thread while one writes.
//
// Errors are error codes: out_of_range for a region outside the space,
// misaligned for unaligned commits, the OS's errno for refused changes.
// Failure atomicity: reserve, commit, commit_data, decommit and begin_write
// leave the space and its pages as they were when they fail (a strategy
// that changes two views undoes the first when the second is refused); a
// scope whose end fails has still ended, and its strategy says what the
// space does about the pages it could not restore.
//
// A minimal conforming strategy (no W^X at all, for illustration only;
// tests/core/test_minimal_policies.cpp compiles it and runs a manager on it):
//
//   struct everything_rwx {
//     static constexpr const char* name = "everything_rwx";
//     static constexpr bool write_revokes_execute = false;  // pages never lose X
//     struct write_scope {
//       jitcm::address_region written;
//       jitcm::result<void> end() {
//         jitcm::platform::flush_instruction_cache(written.begin(), written.size());
//         written = {};
//         return {};
//       }
//     };
//     class space {
//      public:
//       explicit space(jitcm::platform::reservation memory) : memory_{std::move(memory)} {}
//       jitcm::address_region region() const { return memory_.region(); }
//       jitcm::result<void> commit(jitcm::address_region r) { return memory_.commit(r, access::read_write_execute); }
//       jitcm::result<void> commit_data(jitcm::address_region r) { return memory_.commit(r, access::read_write); }
//       jitcm::result<void> decommit(jitcm::address_region r) { return memory_.decommit(r); }
//       std::uintptr_t writable(std::uintptr_t a) const { return a; }
//       jitcm::result<write_scope> begin_write(jitcm::address_region r) {
//         if (!region().contains(r)) return jitcm::failure{jitcm::errc::out_of_range};
//         return write_scope{r};
//       }
//      private:
//       jitcm::platform::reservation memory_;
//     };
//     static jitcm::result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0, std::size_t alignment = 0) {
//       auto memory = jitcm::platform::reservation::reserve(bytes, hint, alignment);
//       if (!memory) return jitcm::forward_error(memory);
//       return space{std::move(*memory)};
//     }
//   };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../base/address_region.hpp"
#include "../base/result.hpp"

namespace jitcm::protection {

template <class S>
concept strategy = requires(typename S::space& space, const typename S::space& const_space,
                            typename S::write_scope& scope, address_region region, std::uintptr_t address,
                            std::size_t bytes) {
  { S::name } -> std::convertible_to<const char*>;
  { S::reserve(bytes, address, bytes) } -> std::same_as<result<typename S::space>>;
  { const_space.region() } -> std::same_as<address_region>;
  { space.commit(region) } -> std::same_as<result<void>>;
  { space.commit_data(region) } -> std::same_as<result<void>>;
  { space.decommit(region) } -> std::same_as<result<void>>;
  { const_space.writable(address) } -> std::same_as<std::uintptr_t>;
  { space.begin_write(region) } -> std::same_as<result<typename S::write_scope>>;
  { scope.end() } -> std::same_as<result<void>>;
}
&&std::movable<typename S::space>&& std::movable<typename S::write_scope>;

namespace detail {

/// The value of a trait a strategy declares either as a `bool` constant or
/// as a function returning one.
template <class Declared>
[[nodiscard]] bool declared_trait(Declared declared) noexcept {
  if constexpr (std::is_invocable_r_v<bool, Declared>) {
    return declared();
  } else {
    return static_cast<bool>(declared);
  }
}

}  // namespace detail

/// What a strategy declares about its write scopes (see the second table
/// above), with the safe answer for what it leaves unsaid. Specialise it to
/// describe a strategy you cannot change.
///
/// Thread safety: any thread; the answers never change during the process.
template <class S>
struct strategy_traits {
  [[nodiscard]] static bool write_revokes_execute() noexcept {
    if constexpr (requires { S::write_revokes_execute; }) return detail::declared_trait(S::write_revokes_execute);
    return true;
  }

  [[nodiscard]] static bool exclusive_pages() noexcept {
    if constexpr (requires { S::exclusive_pages; }) return detail::declared_trait(S::exclusive_pages);
    return write_revokes_execute();
  }
};

}  // namespace jitcm::protection
