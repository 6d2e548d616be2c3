// Definitions of <jitcm/allocator/detail/code_space_set.hpp> (see
// allocator/impl/tlsf.ipp): the strategy-independent bookkeeping; the
// accessors and the paths of an allocate or free that commit nothing stay
// inline.
#pragma once

#include <algorithm>
#include <bit>
#include <limits>
#include <span>
#include <vector>

#include "../../../platform/large_pages.hpp"
#include "../../../platform/virtual_memory.hpp"
#include "../code_space_set.hpp"

namespace jitcm::allocator::detail {

JITCM_DECL result<space_layout> space_layout::from(const options& o) noexcept {
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

JITCM_DECL std::size_t space_layout::large_page_bytes(const options& o) noexcept {
  return o.pages == platform::page_backing::transparent_huge ? platform::large_page_size() : 0;
}

JITCM_DECL code_space_units::code_space_units(const options& o, const space_layout& layout) noexcept
    : options_{o},
      layout_{layout},
      unit_shift_{static_cast<unsigned>(std::countr_zero(layout.unit))},
      chunk_units_{layout.unit == 0 ? 1
                                    : std::max<std::size_t>(1, std::bit_floor(o.max_spare_committed / layout.unit))} {}

JITCM_DECL code_space_units::~code_space_units() {
  if (options_.budget != nullptr) options_.budget->refund(committed_);
}

JITCM_DECL std::array<address_region, 3> code_space_units::growth::code_parts(const space_layout& l,
                                                                              address_region whole) const noexcept {
  return {address_region{whole.begin(), l.code_header_pages},
          address_region{whole.begin() + l.headers_end, pinned - std::min(pinned, l.headers_end)},
          address_region{whole.begin() + block_begin, block_units}};
}

JITCM_DECL result<code_space_units::growth> code_space_units::plan_growth(std::size_t block_bytes) {
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
  growth g;
  g.size = size;
  g.alignment = granularity > platform::page_size() ? granularity : 0;
  g.pinned = std::min(l.pinned_end, size);
  const std::size_t block_end = std::min(space_layout::round_up(l.code_offset + block_bytes, l.unit), size);
  g.block_begin = std::max(space_layout::round_down(l.code_offset, l.unit), g.pinned);
  const std::size_t needed_units = block_end > g.block_begin ? block_end - g.block_begin : 0;
  if (!within_limits(g.pinned + needed_units)) return failure{errc::limit_exceeded};
  // Units after the block's, committed ahead when the limits allow.
  std::size_t ahead = std::min(space_layout::round_down(ahead_room(), l.unit), size - std::max(block_end, g.pinned));
  if (!within_limits(g.pinned + needed_units + ahead)) ahead = 0;
  g.block_units = needed_units == 0 ? 0 : needed_units + ahead;
  g.charged = g.pinned + g.block_units;
  if (auto ok = charge(g.charged); !ok) return forward_error(ok);
  return g;
}

JITCM_DECL std::size_t code_space_units::add_space(const growth& g, address_region whole, platform::placement where,
                                                   platform::page_backing pages) {
  const space_layout& l = layout_;
  const std::size_t code_size = space_layout::round_down(whole.size() - l.code_offset, options_.alignment);
  std::vector<std::uint32_t> counts((whole.size() + l.unit - 1) / l.unit, 0);
  std::vector<std::size_t> spare_since(counts.size(), frees_);
  // Header units are pinned: committed and counted once, never decommitted.
  // (A space smaller than a unit is all header unit.)
  for (std::size_t u = 0; u < (g.pinned + l.unit - 1) / l.unit; ++u) counts[u] = committed_bit | 1;
  // The block's units (and those committed ahead), committed by the caller,
  // wait for it with no count: spare until it lands.
  const std::size_t block_units_end = g.block_units == 0 ? 0 : (g.block_begin + g.block_units + l.unit - 1) / l.unit;
  for (std::size_t u = g.block_begin / l.unit; u < block_units_end; ++u) counts[u] = committed_bit;
  spare_ += g.block_units;

  const std::size_t index = spaces_.size();
  spaces_.push_back(units{whole.begin(), whole.size(), std::move(counts), std::move(spare_since)});
  records_.push_back(code_space{whole,
                                {whole.begin(), l.code_header},
                                {whole.begin() + l.data_offset, l.data_size},
                                {whole.begin() + l.code_offset, code_size},
                                where,
                                pages});
  by_address_.insert(whole, index);
  reserved_ += whole.size();
  return index;
}

JITCM_DECL void code_space_units::forget_newest() noexcept {
  const std::size_t index = spaces_.size() - 1;
  const units& s = spaces_.back();
  std::size_t committed = 0;
  for (std::size_t u = 0; u < s.pages.size(); ++u) {
    if ((s.pages[u] & committed_bit) != 0) committed += unit_bytes(s, u);
    if (s.pages[u] == committed_bit) spare_ -= unit_bytes(s, u);
  }
  refund(committed);
  reserved_ -= s.size;
  by_address_.erase(index);
  records_.pop_back();
  spaces_.pop_back();
}

JITCM_DECL bool code_space_units::is_committed(std::size_t index, address_region region) const noexcept {
  const units& s = spaces_[index];
  const auto [first, last] = page_span(s, region);
  for (std::size_t p = first; p <= last; ++p) {
    if ((s.pages[p] & committed_bit) == 0) return false;
  }
  return true;
}

JITCM_DECL bool code_space_units::is_committed(std::uintptr_t address) const noexcept {
  const std::size_t index = find(address);
  if (index == npos) return false;
  const units& s = spaces_[index];
  return (s.pages[unit_of(s, address)] & committed_bit) != 0;
}

JITCM_DECL std::span<const code_space> code_space_units::records() const noexcept { return records_; }

// Calls run(first, end) for every maximal run of units p in [first, last]
// with selected(p).
template <class Selected, class Run>
void for_each_unit_run(std::size_t first, std::size_t last, Selected selected, Run run) {
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

[[gnu::noinline]] JITCM_DECL result<void> code_space_units::acquire_uncommitted(std::size_t index, std::size_t first,
                                                                                std::size_t last) {
  units& s = spaces_[index];
  std::size_t missing = 0;
  const auto is_uncommitted = [&s](std::size_t p) { return (s.pages[p] & committed_bit) == 0; };
  for (std::size_t p = first; p <= last; ++p) {
    if (is_uncommitted(p)) missing += unit_bytes(s, p);
  }
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
  for_each_unit_run(first, stop, is_uncommitted, [&](std::size_t run_first, std::size_t run_end) {
    if (!outcome) return;
    outcome = commit_run(index, pages_region(s, run_first, run_end));
    if (outcome) committed_until = run_end;
  });
  if (!outcome) {
    // Undo the runs that did commit, so the pages stay as they were.
    if (committed_until > first) {
      for_each_unit_run(first, committed_until - 1, is_uncommitted, [&](std::size_t run_first, std::size_t run_end) {
        (void)decommit_run(index, pages_region(s, run_first, run_end));
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
  count_block(s, first, last);
  return {};
}

[[gnu::noinline]] JITCM_DECL void code_space_units::unit_emptied(std::size_t index, std::size_t unit,
                                                                 bool decommit_free_pages) noexcept {
  units& s = spaces_[index];
  spare_ += unit_bytes(s, unit);
  s.spare_since[unit] = frees_;
  if (decommit_free_pages) decommit_chunk_if_free(index, unit);
}

// Scans at most twice an interval, for the units spare for an interval.
[[gnu::noinline]] JITCM_DECL void code_space_units::decommit_old_spare() noexcept {
  const std::size_t interval = options_.decommit_interval;
  if (frees_ - last_scan_ < (interval + 1) / 2) return;
  last_scan_ = frees_;
  decommit_spare_older(interval);
}

// Decommits the spare units of the chunk around unit `unit` if none of its
// units holds a block (or a header).
JITCM_DECL void code_space_units::decommit_chunk_if_free(std::size_t index, std::size_t unit) noexcept {
  const units& s = spaces_[index];
  const std::size_t first = unit & ~(chunk_units_ - 1);
  const std::size_t last = std::min(first + chunk_units_, s.pages.size()) - 1;
  constexpr std::uint32_t count_mask = committed_bit - 1;
  for (std::size_t p = first; p <= last; ++p) {
    if ((s.pages[p] & count_mask) != 0) return;
  }
  decommit_spare(index, first, last, 0);
}

// Decommits the units of space `index` in [first, last] that have been spare
// for at least `min_age` frees, a maximal run per call; a refused run stays
// spare.
JITCM_DECL void code_space_units::decommit_spare(std::size_t index, std::size_t first, std::size_t last,
                                                 std::size_t min_age) noexcept {
  units& s = spaces_[index];
  const auto old_spare = [&](std::size_t p) {
    return s.pages[p] == committed_bit && frees_ - s.spare_since[p] >= min_age;
  };
  for_each_unit_run(first, last, old_spare, [&](std::size_t run_first, std::size_t run_end) {
    const address_region run = pages_region(s, run_first, run_end);
    if (!decommit_run(index, run)) return;
    for (std::size_t p = run_first; p < run_end; ++p) s.pages[p] = 0;
    spare_ -= run.size();
    refund(run.size());
  });
}

JITCM_DECL void code_space_units::decommit_spare_older(std::size_t min_age) noexcept {
  for (std::size_t index = 0; index < spaces_.size(); ++index) {
    if (!spaces_[index].pages.empty()) decommit_spare(index, 0, spaces_[index].pages.size() - 1, min_age);
  }
}

// Bytes that may be committed ahead of need: up to half the spare limit.
JITCM_DECL std::size_t code_space_units::ahead_room() const noexcept {
  const std::size_t target = options_.max_spare_committed / 2;
  return target > spare_ ? target - spare_ : 0;
}

// The end of the run of uncommitted units from `from` that fits in
// ahead_room() (from itself when none does).
JITCM_DECL std::size_t code_space_units::units_ahead(const units& s, std::size_t from) const noexcept {
  const std::size_t room = ahead_room() / layout_.unit;
  std::size_t end = from;
  while (end < s.pages.size() && end - from < room && (s.pages[end] & committed_bit) == 0) ++end;
  return end;
}

JITCM_DECL bool code_space_units::within_limits(std::size_t bytes) const noexcept {
  if (options_.max_committed != 0 && (bytes > options_.max_committed || committed_ > options_.max_committed - bytes)) {
    return false;
  }
  if (options_.budget != nullptr) {
    const std::size_t maximum = options_.budget->maximum();
    const std::size_t used = options_.budget->committed();
    if (maximum != 0 && (bytes > maximum || used > maximum - bytes)) return false;
  }
  return true;
}

JITCM_DECL result<void> code_space_units::charge(std::size_t bytes) noexcept {
  if (options_.max_committed != 0 && (bytes > options_.max_committed || committed_ > options_.max_committed - bytes)) {
    return failure{errc::limit_exceeded};
  }
  if (options_.budget != nullptr && !options_.budget->try_charge(bytes)) return failure{errc::limit_exceeded};
  committed_ += bytes;
  return {};
}

JITCM_DECL void code_space_units::refund(std::size_t bytes) noexcept {
  committed_ -= bytes;
  if (options_.budget != nullptr) options_.budget->refund(bytes);
}

}  // namespace jitcm::allocator::detail
