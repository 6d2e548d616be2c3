// basic_allocator: a code allocator assembled from a W^X strategy and a
// free-space policy.
#pragma once

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../protection/strategy.hpp"
#include "../base/result.hpp"
#include "code_block.hpp"
#include "concept.hpp"
#include "detail/code_space_set.hpp"
#include "detail/word_mutex.hpp"
#include "options.hpp"

namespace jitcm::allocator {

/// How an allocator finds room inside its code spaces, and which blocks are
/// live. Every size and every region handed to the policy is a multiple of
/// the allocator's alignment and starts aligned; the policy never touches
/// code memory.
///
/// | expression                        | result            | OPTIONAL/default | guarantees |
/// |-----------------------------------|-------------------|------------------|------------|
/// | `F{alignment}`                    |                   | required | empty: no space yet |
/// | `f.add_space(code)`               | `bool`            | required | `code` (a new space's code area) is free; false if the policy could not allocate its own bookkeeping (then nothing changed; the allocator gives the space back) |
/// | `f.allocate(n)`                   | `address_region`  | required | `n` free bytes, now live; empty when no space has room |
/// | `f.allocate_in_region(n, within)` | `address_region`  | required | as allocate, inside `within` only (so a free `within` of size `n` is taken whole: how a free the OS made fail is undone) |
/// | `f.undo(r)`                       | `void`            | required | gives back `r`, the region just allocated, as if it never was |
/// | `f.free(r)`                       | `std::error_code` | required | `r` lies in some space: gives it back (bump: forgets it) and returns no error; double_free when no live block starts at `r.begin()`, invalid_argument when the live block there has another size; nothing changed on error |
/// | `F::returns_memory`               | `bool`            | required | whether freed pages may be decommitted |
/// | `f.free_at(p)`                    | `address_region`  | OPTIONAL: without it the allocator has no `free(address)` | frees the live block that starts at `p` and returns it; empty, and nothing changed, when none does |
///
/// Only free_at is optional. Compiled in tests/core/test_minimal_policies.cpp (and a
/// first-fit policy in examples/custom_policies.cpp):
///
/// ```cpp
/// struct first_space_only {  // hands out the first space once, never reuses room
///   static constexpr bool returns_memory = false;
///   explicit first_space_only(std::size_t) {}
///   bool add_space(jitcm::address_region code) { if (rest.empty()) rest = code; return true; }
///   jitcm::address_region allocate(std::size_t n) {
///     return rest.size() < n ? jitcm::address_region{} : rest.take_front(n);
///   }
///   jitcm::address_region allocate_in_region(std::size_t, jitcm::address_region) { return {}; }
///   void undo(jitcm::address_region r) { rest = {r.begin(), rest.end() - r.begin()}; }
///   std::error_code free(jitcm::address_region) { return {}; }  // forgets the block, as bump does
///   jitcm::address_region rest;
/// };
/// ```
template <class F>
concept free_space_policy = std::constructible_from<F, std::size_t> &&
    requires(F& f, std::size_t bytes, address_region region) {
  { F::returns_memory } -> std::convertible_to<bool>;
  { f.add_space(region) } -> std::same_as<bool>;
  { f.allocate(bytes) } -> std::same_as<address_region>;
  { f.allocate_in_region(bytes, region) } -> std::same_as<address_region>;
  {f.undo(region)};
  { f.free(region) } -> std::same_as<std::error_code>;
};

/// Whether free-space policy `F` has the optional free_at (see above).
template <class F>
concept frees_at = requires(F& f, std::uintptr_t p) {
  { f.free_at(p) } -> std::same_as<address_region>;
};

/// A jitcm::code_allocator: code spaces reserved through the W^X strategy
/// `Protection` and laid out by `options`, free space found by `FreeSpace`.
/// See concept.hpp for the contract of every member.
///
/// When the strategy's exclusive_pages() is true (mprotect_toggle, whose
/// write scopes take execute permission from their pages for every thread),
/// every block gets pages of its own: the alignment is raised to a page, so
/// blocks start on a page and take whole pages, and the first block starts
/// on the page after the headers. A write scope on a block then touches no
/// page holding other code or jump tables, and a page is written again only
/// after the block on it was freed. Cost: up to a page per block.
///
/// Thread safety: allocate, allocate_in_region, free, contains, writable,
/// stats and is_committed lock an internal mutex (a detail::word_mutex: one
/// atomic instruction to take and one to give back when uncontended) and may
/// be called from any thread. begin_write locks it only to find the space, then follows
/// `Protection` (mprotect_toggle: one writing thread per space at a time;
/// while a scope is open its pages are RW, not executable, for every thread,
/// which with pages of its own per block means only the code being written;
/// dual_mapping lets threads write a space at once).
/// code_spaces() returns a view that a concurrent allocate may invalidate:
/// call it from the thread that allocates, or under your own lock.
///
/// Failure atomicity: every operation that fails leaves the allocator as it
/// was (blocks, statistics, committed pages, budget), whichever OS call or
/// bookkeeping allocation was refused; see each operation for its errors.
//
// The parameters are checked in the constructor, not constrained in the
// template head nor asserted in the class: naming basic_allocator<P, F> (an
// alias, a default argument) or instantiating the class (a module type
// declared extern, which every TU of a separately compiled program sees)
// then costs no concept check; only the allocators a program constructs do.
#define JITCM_DETAIL_NOT_A_STRATEGY                                                             \
  "jitcm: basic_allocator's Protection is not a jitcm::protection::strategy (see the table in " \
  "<jitcm/protection/strategy.hpp>)"

template <class Protection, class FreeSpace>
class basic_allocator {
  // The class itself needs only the strategy's two types; without them the
  // constructor's check would never be reached.
  static_assert(
      requires {
        typename Protection::space;
        typename Protection::write_scope;
      },
      JITCM_DETAIL_NOT_A_STRATEGY);

 public:
  using protection_type = Protection;
  using free_space_type = FreeSpace;
  using options = allocator::options;
  using block = code_block;
  using write_scope = typename Protection::write_scope;

  basic_allocator() : basic_allocator(options{}) {}
  /// Invalid options (alignment not a power of two, headers leaving no room
  /// in max_code_space_size) make every allocate fail with their error.
  explicit basic_allocator(const options& o) : basic_allocator(placed(o), detail::space_layout::from(placed(o))) {}
  /// A module's allocator (see code_allocator): the module's limits, this
  /// allocator's defaults for everything else.
  explicit basic_allocator(const module_limits& limits) : basic_allocator(limited(options{}, limits)) {}

  basic_allocator(const basic_allocator&) = delete;
  basic_allocator& operator=(const basic_allocator&) = delete;

  /// `bytes` rounded up to the alignment, in committed pages of some space.
  /// Errors: as code_allocator; ENOMEM when the free-space policy cannot
  /// allocate the bookkeeping of a new space (the space is given back);
  /// space_unusable when the space with room cannot take code (see
  /// protection::mprotect_toggle). Nothing changed on error.
  result<block> allocate(std::size_t bytes) {
    std::lock_guard guard{lock_};
    auto size = checked_size(bytes);
    if (!size) return forward_error(size);
    address_region found = free_.allocate(*size);
    if (found.empty()) {
      auto grown = spaces_.grow(*size);
      if (!grown) return forward_error(grown);
      if (!free_.add_space(spaces_.record(*grown).code)) {
        spaces_.drop_newest();
        return system_failure(ENOMEM);
      }
      found = free_.allocate(*size);
      if (found.empty()) return failure{errc::out_of_memory};
    }
    return hand_out(found);
  }

  /// As allocate, but only inside `within`; never reserves a space.
  /// Errors additionally: out_of_memory when `within` has no room. Nothing
  /// changed on error.
  result<block> allocate_in_region(std::size_t bytes, address_region within) {
    std::lock_guard guard{lock_};
    auto size = checked_size(bytes);
    if (!size) return forward_error(size);
    const address_region found = free_.allocate_in_region(*size, within);
    if (found.empty()) return failure{errc::out_of_memory};
    return hand_out(found);
  }

  /// Errors: not_owned, double_free, invalid_argument (see code_allocator);
  /// nothing changed on error. Units the block leaves empty become spare
  /// (options::max_spare_committed); a refused decommit of spare units keeps
  /// them committed and spare, and fails no free.
  result<void> free(const block& b) {
    std::lock_guard guard{lock_};
    const std::size_t index = b.executable() == 0 ? spaces_.npos : spaces_.find(b.executable());
    if (index == spaces_.npos) return failure{errc::not_owned};
    // The alignment is a power of two once a space exists: a mask, not a division.
    const std::size_t misalignment = options_.alignment - 1;
    if (b.size() == 0 || !spaces_.record(index).code.contains(b.region()) || (b.size() & misalignment) != 0) {
      return failure{(b.executable() & misalignment) != 0 || !spaces_.record(index).code.contains(b.executable())
                         ? errc::not_owned
                         : errc::invalid_argument};
    }
    if (const std::error_code refused = free_.free(b.region())) return failure{refused};
    account_free(index, b.region());
    return {};
  }

  /// Frees the live block that starts at `executable`, as asmjit's
  /// JitAllocator::release(rx) does: the caller need keep only the address
  /// code runs at (8 bytes a block, where a code_block is 24), and the
  /// free-space policy knows the size. Offered when the policy can find a
  /// live block by its start (tlsf and pool; bump forgets its blocks).
  /// Errors: not_owned (null, outside every code area, or misaligned),
  /// double_free (no live block starts there); nothing changed on error.
  result<void> free(std::uintptr_t executable) requires frees_at<FreeSpace> {
    std::lock_guard guard{lock_};
    const std::size_t index = executable == 0 ? spaces_.npos : spaces_.find(executable);
    if (index == spaces_.npos) return failure{errc::not_owned};
    // The policy knows only code areas and aligned starts: whether the
    // address was one is asked only when it finds no block there.
    const address_region freed = free_.free_at(executable);
    if (freed.empty()) {
      const bool foreign =
          !spaces_.record(index).code.contains(executable) || (executable & (options_.alignment - 1)) != 0;
      return failure{foreign ? errc::not_owned : errc::double_free};
    }
    account_free(index, freed);
    return {};
  }

  /// Decommits every spare unit now, a run of adjacent units per call, as a
  /// free does once spare bytes pass options::max_spare_committed: for
  /// after freeing many blocks (a module's code) when few frees follow. A
  /// refused decommit keeps its units spare; allocator_stats::spare says
  /// what is left.
  void decommit_spare() {
    std::lock_guard guard{lock_};
    spaces_.decommit_spare();
  }

  /// The write scope of the space holding `region`.
  /// Errors: invalid_argument (empty), out_of_range (no single space holds
  /// it), not_committed (a commit unit under it is not committed), and the
  /// strategy's; nothing changed on error.
  result<write_scope> begin_write(address_region region) {
    if (region.empty()) return failure{errc::invalid_argument};
    typename Protection::space* space = nullptr;
    {
      std::lock_guard guard{lock_};
      const std::size_t index = spaces_.find(region.begin());
      if (index == spaces_.npos || !spaces_.record(index).region.contains(region)) {
        return failure{errc::out_of_range};
      }
      if (!spaces_.is_committed(index, region)) return failure{errc::not_committed};
      // Spaces never move or go away while the allocator lives.
      space = &spaces_.space(index);
    }
    return space->begin_write(region);
  }

  /// Where to write the byte that executes at `rx` (rx itself outside the
  /// spaces or without dual mapping).
  [[nodiscard]] std::uintptr_t writable(std::uintptr_t rx) const {
    std::lock_guard guard{lock_};
    const std::size_t index = spaces_.find(rx);
    return index == spaces_.npos ? rx : spaces_.space(index).writable(rx);
  }

  [[nodiscard]] std::span<const code_space> code_spaces() const noexcept { return spaces_.records(); }

  /// The strategy's object for code space `index` (creation order, as in
  /// code_spaces()); it lives as long as the allocator.
  [[nodiscard]] const typename Protection::space& space(std::size_t index) const noexcept {
    return spaces_.space(index);
  }

  [[nodiscard]] bool contains(std::uintptr_t address) const {
    std::lock_guard guard{lock_};
    return spaces_.find(address) != spaces_.npos;
  }

  /// Whether the page holding `address` is committed.
  [[nodiscard]] bool is_committed(std::uintptr_t address) const {
    std::lock_guard guard{lock_};
    return spaces_.is_committed(address);
  }

  [[nodiscard]] allocator_stats stats() const {
    std::lock_guard guard{lock_};
    return {spaces_.reserved(), spaces_.committed(), live_bytes_, freed_bytes_, spaces_.count(), spaces_.spare()};
  }

  /// Whether a write scope takes execute permission from its pages for
  /// every thread while it is open (the strategy's trait). Code managers
  /// then route jump-table slots so that retargeting never writes a page
  /// other threads run.
  [[nodiscard]] bool write_revokes_execute() const noexcept {
    return protection::strategy_traits<Protection>::write_revokes_execute();
  }
  /// Whether every block has pages of its own (see the class comment).
  [[nodiscard]] bool exclusive_pages() const noexcept {
    return protection::strategy_traits<Protection>::exclusive_pages();
  }

  /// Raised to a page when blocks have pages of their own.
  [[nodiscard]] std::size_t alignment() const noexcept { return options_.alignment; }
  [[nodiscard]] const options& config() const noexcept { return options_; }

 private:
  basic_allocator(const options& o, const result<detail::space_layout>& layout)
      : options_{o},
        options_error_{layout ? std::error_code{} : layout.error()},
        spaces_{o, layout ? *layout : detail::space_layout{}},
        free_{platform::is_power_of_two(o.alignment) ? o.alignment : default_code_alignment} {
    static_assert(protection::strategy<Protection>, JITCM_DETAIL_NOT_A_STRATEGY);
    static_assert(free_space_policy<FreeSpace>,
                  "jitcm: basic_allocator's FreeSpace is not a jitcm::allocator::free_space_policy (see the table in "
                  "<jitcm/allocator/basic_allocator.hpp>)");
  }

  // `o` with its alignment raised to a page when blocks get pages of their
  // own (an invalid alignment is left for space_layout to report).
  [[nodiscard]] static options limited(options o, const module_limits& limits) noexcept {
    o.max_code_space_size = limits.max_code_space_size;
    o.max_committed = limits.max_committed;
    o.budget = limits.budget;
    o.space_code_header = limits.space_code_header;
    o.space_data_header = limits.space_data_header;
    o.initial_reservation = limits.initial_reservation;
    o.preferred_range = limits.preferred_range;
    return o;
  }
  [[nodiscard]] static options placed(options o) noexcept {
    if (protection::strategy_traits<Protection>::exclusive_pages() && platform::is_power_of_two(o.alignment)) {
      o.alignment = std::max(o.alignment, platform::page_size());
    }
    return o;
  }

  result<std::size_t> checked_size(std::size_t bytes) const noexcept {
    if (options_error_) return failure{options_error_};
    if (bytes == 0) return failure{errc::invalid_argument};
    if (bytes > std::size_t(-1) - (options_.alignment - 1)) return failure{errc::size_overflow};
    const std::size_t size = detail::space_layout::round_up(bytes, options_.alignment);
    if (size > spaces_.layout().max_block) return failure{errc::limit_exceeded};
    return size;
  }

  // Takes `region`, which the free-space policy has just freed in space
  // `index`, off its commit units and the statistics.
  void account_free(std::size_t index, address_region region) {
    spaces_.give_back(index, region, FreeSpace::returns_memory);
    live_bytes_ -= region.size();
    freed_bytes_ += region.size();
  }

  // Commits the pages under a newly allocated region; gives the region back
  // if they cannot be committed.
  result<block> hand_out(address_region found) {
    const std::size_t index = spaces_.find(found.begin());
    if (auto ok = spaces_.acquire(index, found); !ok) {
      free_.undo(found);
      return forward_error(ok);
    }
    live_bytes_ += found.size();
    return block{found.begin(), spaces_.space(index).writable(found.begin()), found.size()};
  }

  options options_;
  std::error_code options_error_;
  mutable detail::word_mutex lock_;
  detail::code_space_set<Protection> spaces_;
  FreeSpace free_;
  std::size_t live_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
};

}  // namespace jitcm::allocator

#undef JITCM_DETAIL_NOT_A_STRATEGY
