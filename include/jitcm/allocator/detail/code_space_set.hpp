// code_space_set: the code spaces of one allocator and their committed pages.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "../../base/address_region.hpp"
#include "../../base/config.hpp"
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
  static result<space_layout> from(const options& o) noexcept;

  /// The large page size when `o` asks for large pages and the host has them.
  [[nodiscard]] static std::size_t large_page_bytes(const options& o) noexcept;

  [[nodiscard]] static constexpr std::size_t round_up(std::size_t value, std::size_t alignment) noexcept {
    return (value + alignment - 1) & ~(alignment - 1);
  }
  [[nodiscard]] static constexpr std::size_t round_down(std::size_t value, std::size_t alignment) noexcept {
    return value & ~(alignment - 1);
  }
};

/// The commit units and the accounting of code_space_set, which does not
/// depend on the W^X strategy: compiled once (see README, "Compile time"),
/// not in every TU that names an allocator. What needs a space's memory it
/// asks of the derived set through commit_run / decommit_run.
///
/// Thread safety: none; the owning allocator locks.
class code_space_units {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  code_space_units(const code_space_units&) = delete;
  code_space_units& operator=(const code_space_units&) = delete;

  [[nodiscard]] const space_layout& layout() const noexcept { return layout_; }

  /// Index of the space containing `address`, or npos.
  [[nodiscard]] std::size_t find(std::uintptr_t address) const noexcept {
    const std::size_t* index = by_address_.find(address);
    return index == nullptr ? npos : *index;
  }

  /// Counts `block` (inside the code area of space `index`) as live on its
  /// commit units, committing those that were not, and the uncommitted units
  /// right after them while spare bytes stay within limit / 2 (never past
  /// the limits: then only what the block needs). Errors: limit_exceeded,
  /// the strategy's commit error; nothing changes on error.
  result<void> acquire_units(std::size_t index, address_region block) {
    units& s = spaces_[index];
    const auto [first, last] = page_span(s, block);
    for (std::size_t p = first; p <= last; ++p) {
      if ((s.pages[p] & committed_bit) == 0) return acquire_uncommitted(index, first, last);
    }
    count_block(s, first, last);
    return {};
  }

  /// Takes `block` off its commit units; units it leaves empty become spare.
  /// With `decommit_free_pages`, a chunk the block leaves without a block is
  /// decommitted, and spare units older than the interval may be (see the
  /// class comment of code_space_set). Never fails: a refused decommit leaves
  /// its units spare, to be tried again.
  void give_back(std::size_t index, address_region block, bool decommit_free_pages) {
    units& s = spaces_[index];
    const auto [first, last] = page_span(s, block);
    ++frees_;
    for (std::size_t p = first; p <= last; ++p) {
      if (--s.pages[p] == committed_bit) unit_emptied(index, p, decommit_free_pages);
    }
    if (decommit_free_pages && spare_ > options_.max_spare_committed) decommit_old_spare();
  }

  /// Decommits every spare unit of every space, a maximal run per call. A
  /// run whose decommit is refused stays committed and spare (and counted);
  /// the others are decommitted all the same.
  void decommit_spare() noexcept { decommit_spare_older(0); }

  /// Whether every commit unit under `region` (inside space `index`) is
  /// committed.
  [[nodiscard]] bool is_committed(std::size_t index, address_region region) const noexcept;
  /// Whether the page `address` lies on is committed (for tests and checks).
  [[nodiscard]] bool is_committed(std::uintptr_t address) const noexcept;

  [[nodiscard]] std::span<const code_space> records() const noexcept;
  [[nodiscard]] const code_space& record(std::size_t index) const noexcept { return records_[index]; }
  [[nodiscard]] std::size_t count() const noexcept { return spaces_.size(); }
  [[nodiscard]] std::size_t reserved() const noexcept { return reserved_; }
  [[nodiscard]] std::size_t committed() const noexcept { return committed_; }
  /// Committed bytes of code units that hold no block (and no header).
  [[nodiscard]] std::size_t spare() const noexcept { return spare_; }

 protected:
  /// What code_space_set reserves and commits for a new space (see grow).
  struct growth {
    std::size_t size = 0;         ///< of the space, whole allocation granules
    std::size_t alignment = 0;    ///< of its reservation (0: the OS's)
    std::size_t pinned = 0;       ///< header bytes, committed for good
    std::size_t block_begin = 0;  ///< offset of the block's first unit
    std::size_t block_units = 0;  ///< bytes committed for the block and ahead of it
    std::size_t charged = 0;      ///< pinned + block_units, charged to the limits
    /// The parts of `whole` to commit executable (some may be empty).
    [[nodiscard]] std::array<address_region, 3> code_parts(const space_layout& l, address_region whole) const noexcept;
  };

  code_space_units(const options& o, const space_layout& layout) noexcept;
  ~code_space_units();

  /// Sizes a new space for a block of `block_bytes` and charges what it
  /// commits. Errors: limit_exceeded; nothing changes on error.
  result<growth> plan_growth(std::size_t block_bytes);
  /// Undoes plan_growth when the space could not be made.
  void cancel_growth(const growth& g) noexcept { refund(g.charged); }
  /// Records the space `whole` made by `g`, committed as `g` says; returns
  /// its index.
  std::size_t add_space(const growth& g, address_region whole, platform::placement where, platform::page_backing pages);
  /// Forgets the newest space (see code_space_set::drop_newest).
  void forget_newest() noexcept;

  [[nodiscard]] const options& settings() const noexcept { return options_; }

  /// The memory of space `index`, asked by the unit bookkeeping.
  virtual result<void> commit_run(std::size_t index, address_region run) = 0;
  virtual result<void> decommit_run(std::size_t index, address_region run) noexcept = 0;

 private:
  static constexpr std::uint32_t committed_bit = std::uint32_t{1} << 31;

  struct units {
    std::uintptr_t base;                   // the start of the whole space
    std::size_t size;                      // its size
    std::vector<std::uint32_t> pages;      // live-block count | committed_bit, per commit unit of the space
    std::vector<std::size_t> spare_since;  // per unit: frees_ when it last became spare
  };

  struct page_range {
    std::size_t first;
    std::size_t last;  // inclusive
  };

  [[nodiscard]] page_range page_span(const units& s, address_region block) const noexcept {
    return {unit_of(s, block.begin()), unit_of(s, block.end() - 1)};
  }
  // The unit is a power of two: a shift, where a division by a value known
  // only at run time costs tens of cycles on every allocate and free.
  [[nodiscard]] std::size_t unit_of(const units& s, std::uintptr_t address) const noexcept {
    return (address - s.base) >> unit_shift_;
  }
  void count_block(units& s, std::size_t first, std::size_t last) noexcept {
    for (std::size_t p = first; p <= last; ++p) {
      if (s.pages[p] == committed_bit) spare_ -= unit_bytes(s, p);
      s.pages[p] = (s.pages[p] + 1) | committed_bit;
    }
  }
  [[nodiscard]] std::size_t unit_bytes(const units& s, std::size_t unit) const noexcept {
    return pages_region(s, unit, unit + 1).size();
  }
  [[nodiscard]] address_region pages_region(const units& s, std::size_t first, std::size_t end) const noexcept {
    // The last unit of a space may be cut short by the space's end.
    const std::size_t stop = std::min(end * layout_.unit, s.size);
    return {s.base + first * layout_.unit, stop - first * layout_.unit};
  }

  // Out of line, as every commit and decommit: the allocate and the free
  // that call them stay small enough to be inlined, and most make no call.
  // (Their definitions say noinline, for header-only builds.)
  result<void> acquire_uncommitted(std::size_t index, std::size_t first, std::size_t last);
  void unit_emptied(std::size_t index, std::size_t unit, bool decommit_free_pages) noexcept;
  void decommit_old_spare() noexcept;
  void decommit_chunk_if_free(std::size_t index, std::size_t unit) noexcept;
  void decommit_spare(std::size_t index, std::size_t first, std::size_t last, std::size_t min_age) noexcept;
  void decommit_spare_older(std::size_t min_age) noexcept;
  [[nodiscard]] std::size_t ahead_room() const noexcept;
  [[nodiscard]] std::size_t units_ahead(const units& s, std::size_t from) const noexcept;
  [[nodiscard]] bool within_limits(std::size_t bytes) const noexcept;
  result<void> charge(std::size_t bytes) noexcept;
  void refund(std::size_t bytes) noexcept;

  options options_;
  space_layout layout_;
  unsigned unit_shift_;
  // Units per chunk: the spare limit in whole units, rounded down to a power
  // of two (at least one).
  std::size_t chunk_units_;
  std::size_t frees_ = 0;      // frees so far: the clock of spare units' age
  std::size_t last_scan_ = 0;  // frees_ at the last look for old spare units
  std::vector<units> spaces_;
  std::vector<code_space> records_;
  region_index<std::size_t> by_address_;  // the whole of every space, to its index
  std::size_t reserved_ = 0;
  std::size_t committed_ = 0;
  std::size_t spare_ = 0;
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
/// The strategy-independent part is code_space_units; this adds the
/// spaces' memory.
///
/// Thread safety: none; the owning allocator locks.
template <class Protection>
class code_space_set final : public code_space_units {
 public:
  using space_type = typename Protection::space;

  code_space_set(const options& o, const space_layout& layout) noexcept : code_space_units{o, layout} {}

  /// Reserves a space with room for a block of `block_bytes` at its code
  /// start and commits its headers and the units that block will lie on (so
  /// that placing it there cannot fail on a commit and leave an unused
  /// space behind). Returns its index.
  /// Errors: limit_exceeded (the block does not fit in max_code_space_size,
  /// or committing the headers and the block would pass max_committed or the
  /// budget), address_space_exhausted, ENOMEM and OS errors. Nothing changes
  /// on error.
  result<std::size_t> grow(std::size_t block_bytes) {
    auto planned = plan_growth(block_bytes);
    if (!planned) return forward_error(planned);
    auto made = make_space(*planned);
    if (!made) cancel_growth(*planned);
    return made;
  }

  /// Gives back the space the last grow() reserved, which nothing uses yet
  /// (the free-space policy could not take it on): its committed header
  /// units are refunded and its reservation released.
  void drop_newest() noexcept {
    forget_newest();
    memory_.pop_back();
  }

  /// As acquire_units, after the space's optional `ready()` (a strategy's
  /// way to refuse code now: mprotect_toggle's space_unusable).
  result<void> acquire(std::size_t index, address_region block) {
    space_type& memory = *memory_[index];
    if constexpr (requires {
                    { memory.ready() } -> std::same_as<result<void>>;
                  }) {
      if (auto ok = memory.ready(); !ok) return ok;
    }
    return acquire_units(index, block);
  }

  [[nodiscard]] space_type& space(std::size_t index) noexcept { return *memory_[index]; }
  [[nodiscard]] const space_type& space(std::size_t index) const noexcept { return *memory_[index]; }

 private:
  result<std::size_t> make_space(const growth& g) {
    const options& o = settings();
    auto reserved = platform::reserve_preferring(
        o.preferred_range, g.size, g.alignment,
        [&](std::uintptr_t hint) { return Protection::reserve(g.size, hint, g.alignment); }, o.require_preferred_range);
    if (!reserved) return forward_error(reserved);
    auto memory = std::make_unique<space_type>(std::move(reserved->space));
    const address_region whole = memory->region();
    platform::page_backing pages = platform::page_backing::normal;
    if (space_layout::large_page_bytes(o) != 0) {
      auto advised = platform::advise_large_pages(whole);
      if (!advised) return forward_error(advised);
      pages = *advised;
    }
    for (const address_region part : g.code_parts(layout(), whole)) {
      if (part.empty()) continue;
      if (auto ok = memory->commit(part); !ok) return forward_error(ok);
    }
    if (layout().data_size != 0) {
      if (auto ok = memory->commit_data({whole.begin() + layout().data_offset, layout().data_size}); !ok) {
        return forward_error(ok);
      }
    }
    memory_.push_back(std::move(memory));
    return add_space(g, whole, reserved->where, pages);
  }

  result<void> commit_run(std::size_t index, address_region run) override { return memory_[index]->commit(run); }
  result<void> decommit_run(std::size_t index, address_region run) noexcept override {
    return memory_[index]->decommit(run);
  }

  // Each on the heap: a space never moves once reserved (write scopes point
  // at it), and indexing is one load.
  std::vector<std::unique_ptr<space_type>> memory_;
};

}  // namespace jitcm::allocator::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/code_space_set.ipp"  // IWYU pragma: export
#endif
