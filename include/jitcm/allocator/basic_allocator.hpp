// basic_allocator: a code allocator assembled from a W^X strategy and a
// free-space policy.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

#include "../address_region.hpp"
#include "../config.hpp"
#include "../protection/strategy.hpp"
#include "../result.hpp"
#include "code_block.hpp"
#include "concept.hpp"
#include "detail/code_space_set.hpp"
#include "detail/live_block_table.hpp"
#include "options.hpp"

namespace jitcm::allocator {

/// Where a free-space policy put a block: its region (empty when there was no
/// room) and a word the policy wants back when the block is freed.
struct placement {
  address_region region;
  std::uint64_t tag = 0;
};

/// How an allocator finds room inside its code spaces. Every size and every
/// region handed to the policy is a multiple of the allocator's alignment and
/// starts aligned; the policy never touches code memory.
///
/// | expression                        | result      | guarantees |
/// |-----------------------------------|-------------|------------|
/// | `F{alignment}`                    |             | empty: no space yet |
/// | `f.add_space(code)`               | `void`      | `code` (a new space's code area) is free |
/// | `f.allocate(n)`                   | `placement` | `n` free bytes, now taken; empty region when no space has room |
/// | `f.allocate_in_region(n, within)` | `placement` | as allocate, inside `within` only |
/// | `f.undo(p)`                       | `void`      | gives back `p`, the last placement, as if it never happened |
/// | `f.free(p)`                       | `void`      | gives back a placement for reuse (or, for bump, forgets it) |
/// | `F::returns_memory`               | `bool`      | whether freed pages may be decommitted |
///
/// ```cpp
/// struct first_space_only {
///   static constexpr bool returns_memory = false;
///   explicit first_space_only(std::size_t) {}
///   void add_space(jitcm::address_region code) { if (rest.empty()) rest = code; }
///   jitcm::allocator::placement allocate(std::size_t n) {
///     if (rest.size() < n) return {};
///     return {rest.take_front(n), 0};
///   }
///   jitcm::allocator::placement allocate_in_region(std::size_t, jitcm::address_region) { return {}; }
///   void undo(jitcm::allocator::placement p) { rest = {p.region.begin(), rest.end() - p.region.begin()}; }
///   void free(jitcm::allocator::placement) {}
///   jitcm::address_region rest;
/// };
/// ```
template <class F>
concept free_space_policy = std::constructible_from<F, std::size_t> &&
                            requires(F& f, std::size_t bytes, address_region region, placement p) {
                              { F::returns_memory } -> std::convertible_to<bool>;
                              { f.add_space(region) };
                              { f.allocate(bytes) } -> std::same_as<placement>;
                              { f.allocate_in_region(bytes, region) } -> std::same_as<placement>;
                              { f.undo(p) };
                              { f.free(p) };
                            };

/// A jitcm::code_allocator: code spaces reserved through the W^X strategy
/// `Protection` and laid out by `options`, free space found by `FreeSpace`.
/// See concept.hpp for the contract of every member.
///
/// Thread safety: allocate, allocate_in_region, free, contains, writable,
/// stats and is_committed lock an internal mutex and may be called from any
/// thread. begin_write locks it only to find the space, then follows
/// `Protection` (mprotect_toggle: one writing thread per space at a time).
/// code_spaces() returns a view that a concurrent allocate may invalidate:
/// call it from the thread that allocates, or under your own lock.
template <protection::strategy Protection, free_space_policy FreeSpace>
class basic_allocator {
 public:
  using protection_type = Protection;
  using free_space_type = FreeSpace;
  using options = allocator::options;
  using block = code_block;
  using write_scope = typename Protection::write_scope;

  basic_allocator() : basic_allocator(options{}) {}
  /// Invalid options (alignment not a power of two, headers leaving no room
  /// in max_code_space_size) make every allocate fail with their error.
  explicit basic_allocator(const options& o)
      : basic_allocator(o, detail::space_layout::from(o)) {}

  basic_allocator(const basic_allocator&) = delete;
  basic_allocator& operator=(const basic_allocator&) = delete;

  /// `bytes` rounded up to the alignment, in committed pages of some space.
  result<block> allocate(std::size_t bytes) {
    std::lock_guard guard{lock_};
    auto size = checked_size(bytes);
    if (!size) return forward_error(size);
    placement found = free_.allocate(*size);
    if (found.region.empty()) {
      auto grown = spaces_.grow(*size);
      if (!grown) return forward_error(grown);
      free_.add_space(spaces_.records()[*grown].code);
      found = free_.allocate(*size);
      if (found.region.empty()) return failure{errc::out_of_memory};
    }
    return hand_out(found);
  }

  /// As allocate, but only inside `within`; never reserves a space.
  /// Errors additionally: out_of_memory when `within` has no room.
  result<block> allocate_in_region(std::size_t bytes, address_region within) {
    std::lock_guard guard{lock_};
    auto size = checked_size(bytes);
    if (!size) return forward_error(size);
    placement found = free_.allocate_in_region(*size, within);
    if (found.region.empty()) return failure{errc::out_of_memory};
    return hand_out(found);
  }

  result<void> free(const block& b) {
    std::lock_guard guard{lock_};
    const detail::live_block* live = live_.find(b.rx());
    if (live == nullptr) {
      return failure{b.rx() != 0 && spaces_.find(b.rx()) != spaces_.npos ? errc::double_free : errc::not_owned};
    }
    if (live->size != b.size()) return failure{errc::invalid_argument};
    const placement p{b.region(), live->tag};
    live_.erase(b.rx());
    free_.free(p);
    spaces_.release(spaces_.find(b.rx()), b.region(), FreeSpace::returns_memory);
    live_bytes_ -= b.size();
    freed_bytes_ += b.size();
    return {};
  }

  /// The write scope of the space holding `region`.
  /// Errors: invalid_argument (empty), out_of_range (no single space holds
  /// it), and the strategy's.
  result<write_scope> begin_write(address_region region) {
    if (region.empty()) return failure{errc::invalid_argument};
    typename Protection::space* space = nullptr;
    {
      std::lock_guard guard{lock_};
      const std::size_t index = spaces_.find(region.begin());
      if (index == spaces_.npos || !spaces_.records()[index].region.contains(region)) {
        return failure{errc::out_of_range};
      }
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
    return {spaces_.reserved(), spaces_.committed(), live_bytes_, freed_bytes_, spaces_.count()};
  }

  [[nodiscard]] std::size_t alignment() const noexcept { return options_.alignment; }
  [[nodiscard]] const options& config() const noexcept { return options_; }

 private:
  basic_allocator(const options& o, const result<detail::space_layout>& layout)
      : options_{o},
        options_error_{layout ? std::error_code{} : layout.error()},
        spaces_{o, layout ? *layout : detail::space_layout{}},
        free_{platform::is_power_of_two(o.alignment) ? o.alignment : default_code_alignment} {}

  result<std::size_t> checked_size(std::size_t bytes) const noexcept {
    if (options_error_) return failure{options_error_};
    if (bytes == 0) return failure{errc::invalid_argument};
    if (bytes > std::size_t(-1) - (options_.alignment - 1)) return failure{errc::size_overflow};
    const std::size_t size = detail::space_layout::round_up(bytes, options_.alignment);
    if (size > spaces_.layout().max_block) return failure{errc::limit_exceeded};
    return size;
  }

  // Commits the pages under a placement and records it as live; gives the
  // placement back if the pages cannot be committed.
  result<block> hand_out(placement found) {
    const std::size_t index = spaces_.find(found.region.begin());
    if (auto ok = spaces_.acquire(index, found.region); !ok) {
      free_.undo(found);
      return forward_error(ok);
    }
    live_.insert(found.region.begin(), {found.region.size(), found.tag});
    live_bytes_ += found.region.size();
    const std::uintptr_t rx = found.region.begin();
    return block{rx, spaces_.space(index).writable(rx), found.region.size()};
  }

  options options_;
  std::error_code options_error_;
  mutable std::mutex lock_;
  detail::code_space_set<Protection> spaces_;
  FreeSpace free_;
  detail::live_block_table live_;
  std::size_t live_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
};

}  // namespace jitcm::allocator
