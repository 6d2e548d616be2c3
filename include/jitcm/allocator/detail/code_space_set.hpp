// code_space_set: the code spaces of one allocator and their committed pages.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <limits>
#include <span>
#include <vector>

#include "../../base/address_region.hpp"
#include "../../platform/large_pages.hpp"
#include "../../platform/placement.hpp"
#include "../../platform/virtual_memory.hpp"
#include "../../protection/strategy.hpp"
#include "../../base/result.hpp"
#include "../code_block.hpp"
#include "../options.hpp"
#include "region_index.hpp"

namespace jitcm::allocator::detail {

/// Where the parts of every code space lie, as offsets from its start (which
/// is page-aligned): the code header, the data header on pages of its own,
/// then code.
struct space_layout {
  std::size_t page = 0;
  std::size_t unit = 0;               ///< commit granularity: a power-of-two number of pages
  std::size_t code_header = 0;        ///< bytes asked for
  std::size_t code_header_pages = 0;  ///< [0, this) is committed executable
  std::size_t data_offset = 0;        ///< page-aligned
  std::size_t data_size = 0;          ///< whole pages
  std::size_t headers_end = 0;        ///< end of the pages the headers use
  std::size_t pinned_end = 0;         ///< headers_end rounded up to a unit: committed for good
  std::size_t code_offset = 0;        ///< first byte of code, aligned
  std::size_t max_space = 0;          ///< max_code_space_size, whole allocation granules
  std::size_t max_block = 0;          ///< largest block a space can hold

  /// Validates `o` and derives the layout. Errors: invalid_argument
  /// (alignment not a power of two, or no room for one block in a space),
  /// size_overflow (sizes that overflow when rounded).
  static result<space_layout> from(const options& o) noexcept {
    if (!platform::is_power_of_two(o.alignment)) return failure{errc::invalid_argument};
    space_layout l;
    l.page = platform::page_size();
    const std::size_t granularity = std::max(platform::allocation_granularity(), o.alignment);
    const std::size_t huge = std::numeric_limits<std::size_t>::max() / 4;
    if (o.space_code_header > huge || o.space_data_header > huge || o.commit_granularity > huge) {
      return failure{errc::size_overflow};
    }
    l.unit = std::bit_ceil(std::max({o.commit_granularity, l.page, large_page_bytes(o)}));
    l.code_header = o.space_code_header;
    l.code_header_pages = round_up(o.space_code_header, l.page);
    l.data_offset = l.code_header_pages;
    l.data_size = round_up(o.space_data_header, l.page);
    l.headers_end = l.data_size != 0 ? l.data_offset + l.data_size : l.code_header_pages;
    l.pinned_end = round_up(l.headers_end, l.unit);
    l.code_offset = round_up(l.data_size != 0 ? l.headers_end : l.code_header, o.alignment);
    l.max_space = o.max_code_space_size & ~(granularity - 1);
    if (l.max_space <= l.code_offset || l.max_space - l.code_offset < o.alignment) {
      return failure{errc::invalid_argument};
    }
    l.max_block = (l.max_space - l.code_offset) & ~(o.alignment - 1);
    return l;
  }

  /// The large page size when `o` asks for large pages and the host has them.
  [[nodiscard]] static std::size_t large_page_bytes(const options& o) noexcept {
    return o.pages == platform::page_backing::transparent_huge ? platform::large_page_size() : 0;
  }

  [[nodiscard]] static constexpr std::size_t round_up(std::size_t value, std::size_t alignment) noexcept {
    return (value + alignment - 1) & ~(alignment - 1);
  }
  [[nodiscard]] static constexpr std::size_t round_down(std::size_t value, std::size_t alignment) noexcept {
    return value & ~(alignment - 1);
  }
};

/// The code spaces of one allocator: reserves them by V8's heuristic, commits
/// their pages on demand and decommits pages no live block touches, keeps the
/// header areas, the limits and the byte counts. The allocators differ only
/// in how they find free space inside the spaces kept here.
///
/// Every commit unit carries a count of the live blocks (and headers) on it
/// and whether it is committed. A unit that is committed and holds nothing is
/// spare. Spare units come from two places, and are bounded by
/// options::max_spare_committed (`limit` below):
///
/// - commit ahead: when a block needs uncommitted units, the units after it
///   in its space are committed in the same call, up to limit / 2 spare bytes
///   in all, so a growing allocator commits in steps of about limit / 2
///   rather than a call per unit;
/// - hysteresis: a unit whose last block leaves stays committed. When that
///   leaves its aligned chunk (limit rounded down to a power of two, at
///   least a unit) without a block, the chunk's spare units are decommitted
///   at once, a run per call: freeing a region wholly costs a call per
///   chunk. The spare units scattered among live ones are decommitted once
///   they have been spare for options::decommit_interval frees, looked for
///   (at most twice an interval) while spare bytes pass `limit`, a maximal
///   run per call. Blocks freed in random order empty their units in random
///   order, each among live ones, late in the frees; decommitting each as
///   spare passed the limit cost a call per unit, where now their chunks
///   empty first. Allocate-free cycles at a unit boundary make no call.
///
/// With limit 0 a unit is committed when the first block lands on it and
/// decommitted when the last one leaves (if the allocator returns memory).
///
/// Thread safety: none; the owning allocator locks.
template <protection::strategy Protection>
class code_space_set {
 public:
  using space_type = typename Protection::space;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  code_space_set(const options& o, const space_layout& layout) noexcept : options_{o}, layout_{layout} {}
  code_space_set(const code_space_set&) = delete;
  code_space_set& operator=(const code_space_set&) = delete;
  ~code_space_set() {
    if (options_.budget != nullptr) options_.budget->refund(committed_);
  }

  [[nodiscard]] const space_layout& layout() const noexcept { return layout_; }

  /// Reserves a space with room for a block of `block_bytes` at its code
  /// start and commits its headers and the units that block will lie on (so
  /// that placing it there cannot fail on a commit and leave an unused
  /// space behind). Returns its index.
  /// Errors: limit_exceeded (the block does not fit in max_code_space_size,
  /// or committing the headers and the block would pass max_committed or the
  /// budget), address_space_exhausted and OS errors. Nothing changes on error.
  result<std::size_t> grow(std::size_t block_bytes) {
    const space_layout& l = layout_;
    if (block_bytes > l.max_block) return failure{errc::limit_exceeded};
    const std::size_t needed = l.code_offset + block_bytes;
    // V8's heuristic: room for the block and its headers, at least twice the
    // header overhead, and a quarter of what is reserved already, so that the
    // number of spaces grows logarithmically with the code; the first space
    // is the caller's estimate when it gave one.
    const bool estimated = spaces_.empty() && options_.initial_reservation != 0;
    const std::size_t least = estimated ? options_.initial_reservation : options_.min_code_space_size;
    std::size_t size = std::max({needed, 2 * l.code_offset, reserved_ / 4, least});
    size = std::min(size, l.max_space);
    const std::size_t granularity =
        std::max({platform::allocation_granularity(), options_.alignment, space_layout::large_page_bytes(options_)});
    size = space_layout::round_up(size, granularity);

    // The units holding headers are committed whole and for good: the code
    // header and the rest of its last unit executable, the data header
    // read-write.
    const std::size_t pinned = std::min(l.pinned_end, size);
    const std::size_t block_end = std::min(space_layout::round_up(l.code_offset + block_bytes, l.unit), size);
    const std::size_t block_begin = std::max(space_layout::round_down(l.code_offset, l.unit), pinned);
    const std::size_t needed_units = block_end > block_begin ? block_end - block_begin : 0;
    if (!within_limits(pinned + needed_units)) return failure{errc::limit_exceeded};
    // Units after the block's, committed ahead when the limits allow.
    std::size_t ahead = std::min(space_layout::round_down(ahead_room(), l.unit), size - std::max(block_end, pinned));
    if (!within_limits(pinned + needed_units + ahead)) ahead = 0;
    const std::size_t block_units = needed_units == 0 ? 0 : needed_units + ahead;
    const std::size_t charged = pinned + block_units;
    if (auto ok = charge(charged); !ok) return forward_error(ok);

    auto reserved = reserve_space(size, granularity > platform::page_size() ? granularity : 0);
    if (!reserved) {
      refund(charged);
      return forward_error(reserved);
    }
    space_type memory = std::move(reserved->space);
    const address_region whole = memory.region();
    platform::page_backing pages = platform::page_backing::normal;
    if (space_layout::large_page_bytes(options_) != 0) {
      auto advised = platform::advise_large_pages(whole);
      if (!advised) {
        refund(charged);
        return forward_error(advised);
      }
      pages = *advised;
    }
    const address_region code_parts[] = {{whole.begin(), l.code_header_pages},
                                         {whole.begin() + l.headers_end, pinned - std::min(pinned, l.headers_end)},
                                         {whole.begin() + block_begin, block_units}};
    for (const address_region part : code_parts) {
      if (part.empty()) continue;
      if (auto ok = memory.commit(part); !ok) {
        refund(charged);
        return forward_error(ok);
      }
    }
    if (l.data_size != 0) {
      if (auto ok = memory.commit_data({whole.begin() + l.data_offset, l.data_size}); !ok) {
        refund(charged);
        return forward_error(ok);
      }
    }

    const std::size_t code_size = space_layout::round_down(whole.size() - l.code_offset, options_.alignment);
    const address_region code{whole.begin() + l.code_offset, code_size};
    std::vector<std::uint32_t> units((whole.size() + l.unit - 1) / l.unit, 0);
    std::vector<std::size_t> spare_since(units.size(), frees_);
    // Header units are pinned: committed and counted once, never decommitted.
    // (A space smaller than a unit is all header unit.)
    for (std::size_t u = 0; u < (pinned + l.unit - 1) / l.unit; ++u) units[u] = committed_bit | 1;
    // The block's units (and those committed ahead), committed above, wait
    // for it with no count: spare until it lands.
    const std::size_t block_units_end = block_units == 0 ? 0 : (block_begin + block_units + l.unit - 1) / l.unit;
    for (std::size_t u = block_begin / l.unit; u < block_units_end; ++u) units[u] = committed_bit;
    spare_ += block_units;

    const std::size_t index = spaces_.size();
    spaces_.push_back(std::make_unique<space_entry>(
        space_entry{std::move(memory), whole.begin(), whole.size(), std::move(units), std::move(spare_since)}));
    records_.push_back(code_space{whole,
                                  {whole.begin(), l.code_header},
                                  {whole.begin() + l.data_offset, l.data_size},
                                  code,
                                  reserved->where,
                                  pages});
    by_address_.insert(whole, index);
    reserved_ += whole.size();
    return index;
  }

  /// Gives back the space the last grow() reserved, which nothing uses yet
  /// (the free-space policy could not take it on): its committed header
  /// units are refunded and its reservation released.
  void drop_newest() noexcept {
    const std::size_t index = spaces_.size() - 1;
    const space_entry& s = *spaces_.back();
    std::size_t committed = 0;
    for (std::size_t u = 0; u < s.pages.size(); ++u) {
      if ((s.pages[u] & committed_bit) != 0) committed += pages_region(s, u, u + 1).size();
      if (s.pages[u] == committed_bit) spare_ -= pages_region(s, u, u + 1).size();
    }
    refund(committed);
    reserved_ -= s.size;
    by_address_.erase(index);
    records_.pop_back();
    spaces_.pop_back();
  }

  /// Index of the space containing `address`, or npos.
  [[nodiscard]] std::size_t find(std::uintptr_t address) const noexcept {
    const std::size_t* index = by_address_.find(address);
    return index == nullptr ? npos : *index;
  }

  /// Counts `block` (inside the code area of space `index`) as live on its
  /// commit units, committing those that were not, and the uncommitted units
  /// right after them while spare bytes stay within limit / 2 (never past
  /// the limits: then only what the block needs). Errors: limit_exceeded,
  /// the strategy's commit error, the error of a space that takes no code
  /// now (a strategy's optional `ready()`: mprotect_toggle's
  /// space_unusable); nothing changes on error.
  result<void> acquire(std::size_t index, address_region block) {
    space_entry& s = *spaces_[index];
    if constexpr (requires {
                    { s.memory.ready() } -> std::same_as<result<void>>;
                  }) {
      if (auto ok = s.memory.ready(); !ok) return ok;
    }
    const auto [first, last] = page_span(s, block);
    std::size_t missing = 0;
    const auto is_uncommitted = [&s](std::size_t p) { return (s.pages[p] & committed_bit) == 0; };
    for (std::size_t p = first; p <= last; ++p) {
      if (is_uncommitted(p)) missing += pages_region(s, p, p + 1).size();
    }
    if (missing != 0) {
      std::size_t ahead_end = units_ahead(s, last + 1);
      std::size_t ahead = ahead_end > last + 1 ? pages_region(s, last + 1, ahead_end).size() : 0;
      if (!charge(missing + ahead)) {
        ahead = 0;
        ahead_end = last + 1;
        if (auto charged = charge(missing); !charged) return charged;
      }
      const std::size_t stop = ahead_end - 1;  // the last unit this call commits
      std::size_t committed_until = first;     // runs below this were committed by this call
      result<void> outcome;
      for_each_run(first, stop, is_uncommitted, [&](std::size_t run_first, std::size_t run_end) {
        if (!outcome) return;
        outcome = s.memory.commit(pages_region(s, run_first, run_end));
        if (outcome) committed_until = run_end;
      });
      if (!outcome) {
        // Undo the runs that did commit, so the pages stay as they were.
        if (committed_until > first) {
          for_each_run(first, committed_until - 1, is_uncommitted, [&](std::size_t run_first, std::size_t run_end) {
            (void)s.memory.decommit(pages_region(s, run_first, run_end));
          });
        }
        refund(missing + ahead);
        return outcome;
      }
      for (std::size_t p = last + 1; p <= stop; ++p) {
        s.pages[p] = committed_bit;
        s.spare_since[p] = frees_;
      }
      spare_ += ahead;
    }
    for (std::size_t p = first; p <= last; ++p) {
      if (s.pages[p] == committed_bit) spare_ -= pages_region(s, p, p + 1).size();
      s.pages[p] = (s.pages[p] + 1) | committed_bit;
    }
    return {};
  }

  /// Takes `block` off its commit units; units it leaves empty become spare.
  /// With `decommit_free_pages`, a chunk the block leaves without a block is
  /// decommitted, and spare units older than the interval may be (see the
  /// class comment). Never fails: a refused decommit leaves its units spare,
  /// to be tried again.
  void give_back(std::size_t index, address_region block, bool decommit_free_pages) {
    space_entry& s = *spaces_[index];
    const auto [first, last] = page_span(s, block);
    ++frees_;
    for (std::size_t p = first; p <= last; ++p) {
      if (--s.pages[p] == committed_bit) unit_emptied(s, p, decommit_free_pages);
    }
    if (decommit_free_pages && spare_ > options_.max_spare_committed) decommit_old_spare();
  }

  /// Decommits every spare unit of every space, a maximal run per call. A
  /// run whose decommit is refused stays committed and spare (and counted);
  /// the others are decommitted all the same.
  void decommit_spare() noexcept { decommit_spare_older(0); }

  /// Whether every commit unit under `region` (inside space `index`) is
  /// committed.
  [[nodiscard]] bool is_committed(std::size_t index, address_region region) const noexcept {
    const space_entry& s = *spaces_[index];
    const auto [first, last] = page_span(s, region);
    for (std::size_t p = first; p <= last; ++p) {
      if ((s.pages[p] & committed_bit) == 0) return false;
    }
    return true;
  }

  /// Whether the page `address` lies on is committed (for tests and checks).
  [[nodiscard]] bool is_committed(std::uintptr_t address) const noexcept {
    const std::size_t index = find(address);
    if (index == npos) return false;
    const space_entry& s = *spaces_[index];
    return (s.pages[unit_of(s, address)] & committed_bit) != 0;
  }

  [[nodiscard]] space_type& space(std::size_t index) noexcept { return spaces_[index]->memory; }
  [[nodiscard]] const space_type& space(std::size_t index) const noexcept { return spaces_[index]->memory; }
  [[nodiscard]] std::span<const code_space> records() const noexcept { return records_; }
  [[nodiscard]] std::size_t count() const noexcept { return records_.size(); }
  [[nodiscard]] std::size_t reserved() const noexcept { return reserved_; }
  [[nodiscard]] std::size_t committed() const noexcept { return committed_; }
  /// Committed bytes of code units that hold no block (and no header).
  [[nodiscard]] std::size_t spare() const noexcept { return spare_; }

 private:
  static constexpr std::uint32_t committed_bit = std::uint32_t{1} << 31;

  struct space_entry {
    space_type memory;
    std::uintptr_t base;                   // the start of the whole space
    std::size_t size;                      // its size
    std::vector<std::uint32_t> pages;      // live-block count | committed_bit, per commit unit of the space
    std::vector<std::size_t> spare_since;  // per unit: frees_ when it last became spare
  };

  struct page_range {
    std::size_t first;
    std::size_t last;  // inclusive
  };

  /// A new space of `size` bytes, inside options_.preferred_range if it can
  /// be placed there.
  [[nodiscard]] result<platform::placed<space_type>> reserve_space(std::size_t size, std::size_t alignment) const {
    return platform::reserve_preferring(
        options_.preferred_range, size, alignment,
        [&](std::uintptr_t hint) { return Protection::reserve(size, hint, alignment); },
        options_.require_preferred_range);
  }

  [[nodiscard]] page_range page_span(const space_entry& s, address_region block) const noexcept {
    return {unit_of(s, block.begin()), unit_of(s, block.end() - 1)};
  }

  // The unit is a power of two: a shift, where a division by a value known
  // only at run time costs tens of cycles on every allocate and free.
  [[nodiscard]] std::size_t unit_of(const space_entry& s, std::uintptr_t address) const noexcept {
    return (address - s.base) >> unit_shift_;
  }

  [[nodiscard]] address_region pages_region(const space_entry& s, std::size_t first, std::size_t end) const noexcept {
    // The last unit of a space may be cut short by the space's end.
    const std::size_t stop = std::min(end * layout_.unit, s.size);
    return {s.base + first * layout_.unit, stop - first * layout_.unit};
  }

  // Calls run(first, end) for every maximal run of units p in [first, last]
  // with selected(p).
  template <class Selected, class Run>
  static void for_each_run(std::size_t first, std::size_t last, Selected selected, Run run) {
    std::size_t p = first;
    while (p <= last) {
      if (!selected(p)) {
        ++p;
        continue;
      }
      const std::size_t run_first = p;
      while (p <= last && selected(p)) ++p;
      run(run_first, p);
    }
  }

  // Decommits the units of space `s` in [first, last] that have been spare
  // for at least `min_age` frees, a maximal run per call; a refused run
  // stays spare.
  void decommit_spare(space_entry& s, std::size_t first, std::size_t last, std::size_t min_age) noexcept {
    const auto old_spare = [&](std::size_t p) {
      return s.pages[p] == committed_bit && frees_ - s.spare_since[p] >= min_age;
    };
    for_each_run(first, last, old_spare, [&](std::size_t run_first, std::size_t run_end) {
      const address_region run = pages_region(s, run_first, run_end);
      if (!s.memory.decommit(run)) return;
      for (std::size_t p = run_first; p < run_end; ++p) s.pages[p] = 0;
      spare_ -= run.size();
      refund(run.size());
    });
  }

  // Out of line, as every decommit: the free that calls them stays small
  // enough to be inlined, and most frees empty no unit.
  [[gnu::noinline]] void unit_emptied(space_entry& s, std::size_t unit, bool decommit_free_pages) noexcept {
    spare_ += pages_region(s, unit, unit + 1).size();
    s.spare_since[unit] = frees_;
    if (decommit_free_pages) decommit_chunk_if_free(s, unit);
  }

  // Scans at most twice an interval, for the units spare for an interval.
  [[gnu::noinline]] void decommit_old_spare() noexcept {
    const std::size_t interval = options_.decommit_interval;
    if (frees_ - last_scan_ < (interval + 1) / 2) return;
    last_scan_ = frees_;
    decommit_spare_older(interval);
  }

  // Decommits the spare units of the chunk around unit `unit` if none of
  // its units holds a block (or a header).
  void decommit_chunk_if_free(space_entry& s, std::size_t unit) noexcept {
    const std::size_t first = unit & ~(chunk_units_ - 1);
    const std::size_t last = std::min(first + chunk_units_, s.pages.size()) - 1;
    constexpr std::uint32_t count_mask = committed_bit - 1;
    for (std::size_t p = first; p <= last; ++p) {
      if ((s.pages[p] & count_mask) != 0) return;
    }
    decommit_spare(s, first, last, 0);
  }

  // Decommits, in every space, the units spare for at least `min_age` frees.
  void decommit_spare_older(std::size_t min_age) noexcept {
    for (const auto& owned : spaces_) {
      if (!owned->pages.empty()) decommit_spare(*owned, 0, owned->pages.size() - 1, min_age);
    }
  }

  // Bytes that may be committed ahead of need: up to half the spare limit.
  [[nodiscard]] std::size_t ahead_room() const noexcept {
    const std::size_t target = options_.max_spare_committed / 2;
    return target > spare_ ? target - spare_ : 0;
  }

  // The end of the run of uncommitted units from `from` that fits in
  // ahead_room() (from itself when none does).
  [[nodiscard]] std::size_t units_ahead(const space_entry& s, std::size_t from) const noexcept {
    const std::size_t room = ahead_room() / layout_.unit;
    std::size_t end = from;
    while (end < s.pages.size() && end - from < room && (s.pages[end] & committed_bit) == 0) ++end;
    return end;
  }

  [[nodiscard]] bool within_limits(std::size_t bytes) const noexcept {
    if (options_.max_committed != 0 &&
        (bytes > options_.max_committed || committed_ > options_.max_committed - bytes)) {
      return false;
    }
    if (options_.budget != nullptr) {
      const std::size_t maximum = options_.budget->maximum();
      const std::size_t used = options_.budget->committed();
      if (maximum != 0 && (bytes > maximum || used > maximum - bytes)) return false;
    }
    return true;
  }

  result<void> charge(std::size_t bytes) noexcept {
    if (options_.max_committed != 0 &&
        (bytes > options_.max_committed || committed_ > options_.max_committed - bytes)) {
      return failure{errc::limit_exceeded};
    }
    if (options_.budget != nullptr && !options_.budget->try_charge(bytes)) return failure{errc::limit_exceeded};
    committed_ += bytes;
    return {};
  }

  void refund(std::size_t bytes) noexcept {
    committed_ -= bytes;
    if (options_.budget != nullptr) options_.budget->refund(bytes);
  }

  options options_;
  space_layout layout_;
  unsigned unit_shift_ = static_cast<unsigned>(std::countr_zero(layout_.unit));
  // Units per chunk: the spare limit in whole units, rounded down to a power
  // of two (at least one).
  std::size_t chunk_units_ =
      layout_.unit == 0 ? 1 : std::max<std::size_t>(1, std::bit_floor(options_.max_spare_committed / layout_.unit));
  std::size_t frees_ = 0;      // frees so far: the clock of spare units' age
  std::size_t last_scan_ = 0;  // frees_ at the last look for old spare units
  // Each on the heap: a space never moves once reserved, and indexing is one
  // load (a deque's was an out-of-line call on every allocate and free).
  std::vector<std::unique_ptr<space_entry>> spaces_;
  std::vector<code_space> records_;
  region_index<std::size_t> by_address_;  // the whole of every space, to its index
  std::size_t reserved_ = 0;
  std::size_t committed_ = 0;
  std::size_t spare_ = 0;
};

}  // namespace jitcm::allocator::detail
