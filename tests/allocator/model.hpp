// A reference model of what a code allocator holds, and the checks that
// compare an allocator with it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include <jitcm/allocator/code_block.hpp>
#include <jitcm/platform/virtual_memory.hpp>

#include "catch.hpp"
#include "printing.hpp"

namespace jitcm::testing {

/// The live blocks by address, and the byte counts an allocator must report.
class allocator_model {
 public:
  void add(const code_block& b) {
    // No overlap with the neighbours in address order.
    auto above = live_.lower_bound(b.executable());
    if (above != live_.end()) REQUIRE(b.region().end() <= above->first);
    if (above != live_.begin()) {
      auto below = std::prev(above);
      REQUIRE(below->first + below->second <= b.executable());
    }
    live_.emplace(b.executable(), b.size());
    live_bytes_ += b.size();
  }
  void remove(const code_block& b) {
    live_.erase(b.executable());
    live_bytes_ -= b.size();
    freed_bytes_ += b.size();
  }

  /// The largest run of bytes inside `code` that no live block uses.
  [[nodiscard]] std::size_t largest_gap(address_region code) const {
    std::size_t best = 0;
    std::uintptr_t cursor = start(code);
    for (auto it = live_.lower_bound(code.begin()); it != live_.end() && it->first < code.end(); ++it) {
      best = std::max<std::size_t>(best, it->first - cursor);
      cursor = it->first + it->second;
    }
    return code.end() > cursor ? std::max<std::size_t>(best, code.end() - cursor) : best;
  }

  /// The lowest address in `code` with `size` unused bytes (first fit), or 0.
  [[nodiscard]] std::uintptr_t first_fit(address_region code, std::size_t size) const {
    std::uintptr_t cursor = start(code);
    for (auto it = live_.lower_bound(code.begin()); it != live_.end() && it->first < code.end(); ++it) {
      if (it->first - cursor >= size) return cursor;
      cursor = it->first + it->second;
    }
    return code.end() > cursor && code.end() - cursor >= size ? cursor : 0;
  }

  /// Whether any live block lies (partly) on the page at `page`.
  [[nodiscard]] bool page_in_use(std::uintptr_t page, std::size_t page_size) const {
    auto it = live_.upper_bound(page + page_size - 1);
    if (it == live_.begin()) return false;
    --it;
    return it->first + it->second > page;
  }

  [[nodiscard]] const std::map<std::uintptr_t, std::size_t>& live() const { return live_; }
  [[nodiscard]] std::size_t live_bytes() const { return live_bytes_; }
  [[nodiscard]] std::size_t freed_bytes() const { return freed_bytes_; }

 private:
  // The first address of `code` not covered by a block starting below it.
  [[nodiscard]] std::uintptr_t start(address_region code) const {
    auto it = live_.lower_bound(code.begin());
    if (it == live_.begin()) return code.begin();
    --it;
    return std::max<std::uintptr_t>(code.begin(), it->first + it->second);
  }

  std::map<std::uintptr_t, std::size_t> live_;
  std::size_t live_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
};

/// A block is aligned and lies in the code area of one of the allocator's
/// spaces.
template <class Allocator>
void check_placement(const Allocator& a, const code_block& b, std::size_t requested) {
  const std::size_t alignment = a.alignment();
  REQUIRE(b.executable() % alignment == 0);
  REQUIRE(b.size() >= requested);
  REQUIRE(b.size() < requested + alignment);
  REQUIRE(b.size() % alignment == 0);
  REQUIRE(a.contains(b.executable()));
  bool inside = false;
  for (const code_space& s : a.code_spaces()) inside = inside || s.code.contains(b.region());
  REQUIRE(inside);
}

template <class Allocator>
void check_stats(const Allocator& a, const allocator_model& model) {
  const allocator_stats s = a.stats();
  REQUIRE(s.live == model.live_bytes());
  REQUIRE(s.freed == model.freed_bytes());
  REQUIRE(s.code_spaces == a.code_spaces().size());
  std::size_t reserved = 0;
  for (const code_space& space : a.code_spaces()) reserved += space.region.size();
  REQUIRE(s.reserved == reserved);
}

}  // namespace jitcm::testing
