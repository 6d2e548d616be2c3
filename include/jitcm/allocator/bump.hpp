// allocator::bump: code memory that is only ever handed out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "../base/config.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "detail/address_map.hpp"

namespace jitcm::allocator {

/// Free space that only shrinks: each space has a cursor; allocate takes from
/// the newest space and reserves another when it is full. free() forgets the
/// block and its memory stays as it is until the allocator goes. For code that
/// lives as long as its module (trampolines, snapshots, one-shot compilers).
class bump_free_space {
 public:
  static constexpr bool returns_memory = false;

  explicit bump_free_space(std::size_t alignment) noexcept;

  bool add_space(address_region code);

  address_region allocate(std::size_t bytes) {
    if (cursors_.empty()) return {};
    return take(cursors_.back(), cursors_.back().next, bytes);
  }

  /// Takes from the first space whose unused rest meets `within`; the bytes
  /// skipped below `within` are not used again.
  address_region allocate_in_region(std::size_t bytes, address_region within);

  /// Puts the cursor back to the start of `r` (bytes allocate_in_region
  /// skipped before it stay unused).
  void undo(address_region r);

  /// Forgets the block; its memory is not used again.
  std::error_code free(address_region r);

 private:
  struct cursor {
    std::uintptr_t next;
    std::uintptr_t end;
  };

  address_region take(cursor& c, std::uintptr_t begin, std::size_t bytes);

  std::size_t alignment_;
  std::vector<cursor> cursors_;
  detail::address_map<std::size_t> live_;  // live block start -> size, to refuse double frees
};

/// A code allocator that never reuses memory: allocation is a pointer bump,
/// free() of a live block succeeds and only updates the statistics, and all
/// memory goes when the allocator goes.
template <class Protection = protection::host_default>
using bump = basic_allocator<Protection, bump_free_space>;

}  // namespace jitcm::allocator

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/bump.ipp"  // IWYU pragma: export
#endif
