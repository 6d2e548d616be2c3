// allocator::pool: V8's WasmCodeAllocator, first fit over a disjoint_pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "../base/config.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
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

  explicit pool_free_space(std::size_t alignment) noexcept;

  bool add_space(address_region code);

  /// First fit over all spaces in address order.
  address_region allocate(std::size_t bytes);

  address_region allocate_in_region(std::size_t bytes, address_region within);

  void undo(address_region r);

  std::error_code free(address_region r);

  /// Frees the live block that starts at `address` and returns it; empty
  /// (nothing changed) when none does.
  address_region free_at(std::uintptr_t address);

 private:
  // One pool per space: the OS may place spaces side by side, and a free
  // region must never run from one into the next.
  struct space_entry {
    address_region code;
    disjoint_pool free;
  };

  // Precondition: `address` lies in one of the spaces.
  space_entry& space_of(std::uintptr_t address);

  address_region remember(address_region r);

  std::size_t alignment_;
  std::vector<space_entry> spaces_;        // by address
  detail::address_map<std::size_t> live_;  // live block start -> size
};

/// V8's code allocator: first fit in a disjoint_pool of free regions, code
/// spaces grown by V8's heuristic, pages committed on demand and decommitted
/// when no block is left on them. Reference behaviour; see tlsf for speed.
template <class Protection = protection::host_default>
using pool = basic_allocator<Protection, pool_free_space>;

}  // namespace jitcm::allocator

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/pool.ipp"  // IWYU pragma: export
#endif
