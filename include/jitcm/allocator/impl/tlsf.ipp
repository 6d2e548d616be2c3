// Definitions of <jitcm/allocator/tlsf.hpp>: inline there by default,
// compiled once by <jitcm/separate_compilation.hpp> under separate
// compilation, where the free space's vector and deque code is then
// instantiated once per program instead of in every TU.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>
#include <vector>

#include "../detail/aligned_inside.hpp"
#include "../tlsf.hpp"

namespace jitcm::allocator {

// The constructor and the helpers below are out of line with the rest: the
// constructor builds (and, on a throw, destroys) every class array and the
// deque of spaces, and the helpers are called from this file only.
JITCM_DECL tlsf_free_space::tlsf_free_space(std::size_t alignment) noexcept
    : shift_{static_cast<unsigned>(std::countr_zero(alignment))} {}

JITCM_DECL bool tlsf_free_space::add_space(address_region code) {
  auto table = detail::block_table::make(code.size() >> shift_);
  if (!table) return false;
  spaces_.push_back(space_entry{code, std::move(*table)});
  by_address_.insert(code, &spaces_.back());
  spaces_.back().table.set_start(0);
  attach(spaces_.back(), code.begin(), code.size());
  return true;
}

JITCM_DECL address_region tlsf_free_space::allocate(std::size_t bytes) {
  const std::size_t granules = bytes >> shift_;
  std::uint32_t index = find_suitable(rounded_class_of(granules));
  if (index == none) index = first_fit_in_class(granules);
  if (index == none) return {};
  return take(index, nodes_[index].begin, bytes);
}

JITCM_DECL address_region tlsf_free_space::allocate_in_region(std::size_t bytes, address_region within) {
  const address_region inside = detail::aligned_inside(within, alignment());
  if (inside.size() < bytes) return {};
  for (const auto& placed : by_address_.entries()) {
    space_entry& space = *placed.value;
    if (!space.code.overlaps(inside)) continue;
    // From the block holding the window's start, block by block.
    const std::uintptr_t first = std::max(inside.begin(), space.code.begin());
    std::uintptr_t block = address(space, space.table.start_at_or_below(granule(space, first)));
    const std::uintptr_t stop = std::min(inside.end(), space.code.end());
    while (block < stop) {
      const std::uintptr_t next = next_start(space, block);
      if (const std::uint32_t index = free_block_at(space, granule(space, block)); index != none) {
        const std::uintptr_t begin = std::max(block, inside.begin());
        const std::uintptr_t end = std::min(next, inside.end());
        if (end > begin && end - begin >= bytes) return take(index, begin, bytes);
      }
      block = next;
    }
  }
  return {};
}

JITCM_DECL void tlsf_free_space::undo(address_region r) { give_back(*space_of(r.begin()), r); }

JITCM_DECL std::uintptr_t tlsf_free_space::next_start(const space_entry& s, std::uintptr_t address) const noexcept {
  const std::size_t found = s.table.next_start(granule(s, address));
  return found >= s.table.granules() ? s.code.end() : s.code.begin() + (found << shift_);
}

JITCM_DECL tlsf_free_space::space_entry* tlsf_free_space::space_of(std::uintptr_t address) noexcept {
  space_entry* const* space = by_address_.find(address);
  return space == nullptr ? nullptr : *space;
}

JITCM_DECL address_region tlsf_free_space::live_block(const space_entry& space, std::uintptr_t address) const noexcept {
  const std::size_t g = granule(space, address);
  // A live block's first granule has a start bit and is no free block's end.
  if (!space.table.is_start(g) || space.table.is_free_end(g)) return {};
  return {address, next_start(space, address) - address};
}

JITCM_DECL address_region tlsf_free_space::free_at(std::uintptr_t address) {
  space_entry* space = space_of(address);
  if (space == nullptr || (address & (alignment() - 1)) != 0) return {};
  const address_region block = live_block(*space, address);
  if (!block.empty()) give_back(*space, block);
  return block;
}

JITCM_DECL std::error_code tlsf_free_space::free(address_region r) {
  space_entry* space = space_of(r.begin());
  if (space == nullptr) return make_error_code(errc::double_free);
  const address_region block = live_block(*space, r.begin());
  if (block.empty()) return make_error_code(errc::double_free);
  if (block.end() != r.end()) return make_error_code(errc::invalid_argument);
  give_back(*space, r);
  return {};
}

JITCM_DECL address_region tlsf_free_space::take(std::uint32_t index, std::uintptr_t begin, std::size_t bytes) {
  node& n = nodes_[index];
  space_entry& space = *n.space;
  const std::uintptr_t block_begin = n.begin;
  const std::uintptr_t block_end = block_begin + n.size;
  const std::uintptr_t taken_end = begin + bytes;
  space.table.set_start(granule(space, begin));
  if (begin == block_begin && taken_end < block_end) {
    // At least two granules: the first is not also the last. The entry of
    // the first moves to the new first, unless that is the last (which
    // names the block already).
    const std::size_t first = granule(space, block_begin);
    const std::size_t rest = granule(space, taken_end);
    if (space.table.is_free_end(rest))
      space.table.set_free_end(first, 0);
    else
      space.table.move_free_end(first, rest);
    resize(index, taken_end, block_end - taken_end);
    space.table.set_start(rest);
    return {begin, bytes};
  }
  detach(space, index);
  if (begin > block_begin) attach(space, block_begin, begin - block_begin);
  if (taken_end < block_end) {
    space.table.set_start(granule(space, taken_end));
    attach(space, taken_end, block_end - taken_end);
  }
  return {begin, bytes};
}

JITCM_DECL void tlsf_free_space::give_back(space_entry& space, address_region r) {
  const std::size_t g = granule(space, r.begin());
  const std::size_t end = granule(space, r.end());
  const std::uint32_t below = g > 0 && space.table.is_free_end(g - 1) ? free_block_at(space, g - 1) : none;
  const std::uint32_t above =
      end < space.table.granules() && space.table.is_free_end(end) ? free_block_at(space, end) : none;
  if (below == none && above == none) {
    attach(space, r.begin(), r.size());
    return;
  }
  if (above == none) {
    // The block below grows upwards: its last granule moves.
    space.table.clear_start(g);
    forget_last(space, below);
    resize(below, nodes_[below].begin, nodes_[below].size + r.size());
    set_free_end(space, end - 1, below);
    return;
  }
  space.table.clear_start(end);
  if (below == none) {
    // The block above grows downwards: its first granule moves.
    forget_first(space, above);
    resize(above, r.begin(), nodes_[above].size + r.size());
    set_free_end(space, g, above);
    return;
  }
  // Both: the block below swallows this one and the one above.
  remove_free(above);
  space.table.clear_start(g);
  forget_last(space, below);
  forget_first(space, above);
  const std::size_t last = last_granule(space, nodes_[above]);
  resize(below, nodes_[below].begin, nodes_[above].begin + nodes_[above].size - nodes_[below].begin);
  set_free_end(space, last, below);
  recycle(above);
}

JITCM_DECL void tlsf_free_space::resize(std::uint32_t index, std::uintptr_t begin, std::size_t size) {
  node& n = nodes_[index];
  const size_class before = class_of(n.size >> shift_);
  const size_class after = class_of(size >> shift_);
  const bool same_class = before.first == after.first && before.second == after.second;
  if (!same_class) remove_free(index);
  n.begin = begin;
  n.size = size;
  if (!same_class) insert_free(index);
}

JITCM_DECL void tlsf_free_space::attach(space_entry& space, std::uintptr_t begin, std::size_t size) {
  std::uint32_t index;
  if (spare_ != none) {
    index = spare_;
    spare_ = nodes_[index].next_spare;
  } else {
    index = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[index] = node{begin, size, 0, none, &space};
  set_free_end(space, first_granule(space, nodes_[index]), index);
  set_free_end(space, last_granule(space, nodes_[index]), index);
  insert_free(index);
  ++free_count_;
}

JITCM_DECL void tlsf_free_space::forget_last(space_entry& space, std::uint32_t index) noexcept {
  const node& n = nodes_[index];
  if (n.size > alignment()) space.table.set_free_end(last_granule(space, n), 0);
}

JITCM_DECL void tlsf_free_space::forget_first(space_entry& space, std::uint32_t index) noexcept {
  const node& n = nodes_[index];
  if (n.size > alignment()) space.table.set_free_end(first_granule(space, n), 0);
}

JITCM_DECL void tlsf_free_space::recycle(std::uint32_t index) noexcept {
  nodes_[index].next_spare = spare_;
  spare_ = index;
  --free_count_;
}

JITCM_DECL void tlsf_free_space::detach(space_entry& space, std::uint32_t index) {
  remove_free(index);
  space.table.set_free_end(first_granule(space, nodes_[index]), 0);
  space.table.set_free_end(last_granule(space, nodes_[index]), 0);
  recycle(index);
}

JITCM_DECL tlsf_free_space::size_class tlsf_free_space::class_of(std::size_t granules) noexcept {
  if (granules < sl_count) return {0, static_cast<unsigned>(granules)};
  const unsigned top = static_cast<unsigned>(std::bit_width(granules)) - 1;
  return {top - sl_bits + 1, static_cast<unsigned>(granules >> (top - sl_bits)) & (sl_count - 1)};
}

JITCM_DECL tlsf_free_space::size_class tlsf_free_space::rounded_class_of(std::size_t granules) noexcept {
  if (granules < sl_count) return class_of(granules);
  const unsigned top = static_cast<unsigned>(std::bit_width(granules)) - 1;
  return class_of(granules + (std::size_t{1} << (top - sl_bits)) - 1);
}

JITCM_DECL std::uint32_t tlsf_free_space::find_suitable(size_class c) const noexcept {
  std::uint32_t second_map = second_level_[c.first] & (~std::uint32_t{0} << c.second);
  if (second_map == 0) {
    const std::uint64_t first_map = c.first + 1 < fl_count ? first_level_ & (~std::uint64_t{0} << (c.first + 1)) : 0;
    if (first_map == 0) return none;
    c.first = static_cast<unsigned>(std::countr_zero(first_map));
    second_map = second_level_[c.first];
  }
  return members_[c.first][static_cast<unsigned>(std::countr_zero(second_map))].back();
}

JITCM_DECL std::uint32_t tlsf_free_space::first_fit_in_class(std::size_t granules) const noexcept {
  const size_class c = class_of(granules);
  const std::size_t bytes = granules << shift_;
  const std::vector<std::uint32_t>& members = members_[c.first][c.second];
  for (auto at = members.rbegin(); at != members.rend(); ++at) {
    if (nodes_[*at].size >= bytes) return *at;
  }
  return none;
}

JITCM_DECL void tlsf_free_space::insert_free(std::uint32_t index) {
  const size_class c = class_of(nodes_[index].size >> shift_);
  std::vector<std::uint32_t>& members = members_[c.first][c.second];
  nodes_[index].slot = static_cast<std::uint32_t>(members.size());
  members.push_back(index);
  first_level_ |= std::uint64_t{1} << c.first;
  second_level_[c.first] |= std::uint32_t{1} << c.second;
}

JITCM_DECL void tlsf_free_space::remove_free(std::uint32_t index) noexcept {
  const node& n = nodes_[index];
  const size_class c = class_of(n.size >> shift_);
  std::vector<std::uint32_t>& members = members_[c.first][c.second];
  const std::uint32_t moved = members.back();
  members[n.slot] = moved;
  nodes_[moved].slot = n.slot;
  members.pop_back();
  if (members.empty()) {
    second_level_[c.first] &= ~(std::uint32_t{1} << c.second);
    if (second_level_[c.first] == 0) first_level_ &= ~(std::uint64_t{1} << c.first);
  }
}

}  // namespace jitcm::allocator
