// allocator::pool: V8's WasmCodeAllocator, first fit over a disjoint_pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <vector>
#include <cstdint>
#include <system_error>

#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "detail/aligned_inside.hpp"
#include "detail/address_map.hpp"
#include "disjoint_pool.hpp"

namespace jitcm::allocator {

/// Free space as V8 keeps it: disjoint_pools of free regions in address
/// order (one per space); a block is cut from the start of the lowest region
/// large enough (first fit, linear in the free regions below it), and freed
/// blocks merge with their free neighbours at once.
class pool_free_space {
 public:
  static constexpr bool returns_memory = true;

  explicit pool_free_space(std::size_t alignment) noexcept : alignment_{alignment} {}

  bool add_space(address_region code) {
    auto at = std::upper_bound(spaces_.begin(), spaces_.end(), code.begin(),
                               [](std::uintptr_t a, const space_entry& s) { return a < s.code.begin(); });
    at = spaces_.insert(at, space_entry{code, disjoint_pool{code}});
    return true;
  }

  /// First fit over all spaces in address order.
  address_region allocate(std::size_t bytes) {
    for (space_entry& s : spaces_) {
      if (const address_region r = s.free.allocate(bytes); !r.empty()) return remember(r);
    }
    return {};
  }

  address_region allocate_in_region(std::size_t bytes, address_region within) {
    const address_region inside = detail::aligned_inside(within, alignment_);
    if (inside.empty()) return {};
    for (space_entry& s : spaces_) {
      if (!s.code.overlaps(inside)) continue;
      if (const address_region r = s.free.allocate_in_region(bytes, inside); !r.empty()) return remember(r);
    }
    return {};
  }

  void undo(address_region r) {
    live_.erase(r.begin());
    (void)space_of(r.begin()).free.merge(r);
  }

  std::error_code free(address_region r) {
    const std::size_t* size = live_.find(r.begin());
    if (size == nullptr) return make_error_code(errc::double_free);
    if (*size != r.size()) return make_error_code(errc::invalid_argument);
    live_.erase(r.begin());
    (void)space_of(r.begin()).free.merge(r);
    return {};
  }

 private:
  // One pool per space: the OS may place spaces side by side, and a free
  // region must never run from one into the next.
  struct space_entry {
    address_region code;
    disjoint_pool free;
  };

  // Precondition: `address` lies in one of the spaces.
  space_entry& space_of(std::uintptr_t address) {
    auto at = std::upper_bound(spaces_.begin(), spaces_.end(), address,
                               [](std::uintptr_t a, const space_entry& s) { return a < s.code.begin(); });
    return *std::prev(at);
  }

  address_region remember(address_region r) {
    live_.insert(r.begin(), r.size());
    return r;
  }

  std::size_t alignment_;
  std::vector<space_entry> spaces_;        // by address
  detail::address_map<std::size_t> live_;  // live block start -> size
};

/// V8's code allocator: first fit in a disjoint_pool of free regions, code
/// spaces grown by V8's heuristic, pages committed on demand and decommitted
/// when no block is left on them. Reference behaviour; see tlsf for speed.
template <protection::strategy Protection = protection::host_default>
using pool = basic_allocator<Protection, pool_free_space>;

}  // namespace jitcm::allocator
