// allocator::pool: V8's WasmCodeAllocator, first fit over a disjoint_pool.
#pragma once

#include <cstddef>

#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "disjoint_pool.hpp"

namespace jitcm::allocator {

/// Free space as V8 keeps it: one disjoint_pool of free regions in address
/// order; a block is cut from the start of the lowest region large enough
/// (first fit, linear in the free regions below it), and freed blocks merge
/// with their free neighbours at once.
class pool_free_space {
 public:
  static constexpr bool returns_memory = true;

  explicit pool_free_space(std::size_t alignment) noexcept : alignment_{alignment} {}

  void add_space(address_region code) { (void)free_.merge(code); }
  placement allocate(std::size_t bytes) { return {free_.allocate(bytes), 0}; }
  placement allocate_in_region(std::size_t bytes, address_region within) {
    return {free_.allocate_in_region(bytes, aligned_inside(within, alignment_)), 0};
  }
  void undo(placement p) { free(p); }
  void free(placement p) { (void)free_.merge(p.region); }

  [[nodiscard]] const disjoint_pool& regions() const noexcept { return free_; }

  /// The largest part of `within` that starts and ends aligned.
  [[nodiscard]] static address_region aligned_inside(address_region within, std::size_t alignment) noexcept {
    const std::uintptr_t mask = alignment - 1;
    const std::uintptr_t end = within.end() < within.begin() ? UINTPTR_MAX : within.end();
    if (within.begin() > UINTPTR_MAX - mask) return {};
    const std::uintptr_t begin = (within.begin() + mask) & ~mask;
    const std::uintptr_t aligned_end = end & ~mask;
    return aligned_end > begin ? address_region{begin, aligned_end - begin} : address_region{};
  }

 private:
  std::size_t alignment_;
  disjoint_pool free_;
};

/// V8's code allocator: first fit in a disjoint_pool of free regions, code
/// spaces grown by V8's heuristic, pages committed on demand and decommitted
/// when no block is left on them. Reference behaviour; see tlsf for speed.
template <protection::strategy Protection = protection::host_default>
using pool = basic_allocator<Protection, pool_free_space>;

}  // namespace jitcm::allocator
