// allocator::options: how an allocator lays out and limits its code spaces.
#pragma once

#include <cstddef>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../platform/placement_and_backing.hpp"
#include "commit_budget.hpp"

namespace jitcm::allocator {

/// The largest code space worth reserving on this host by default: what a
/// near call or jump reaches, so that code and the jump tables at the start of
/// its space always reach each other (1 GiB on x86-64 as in V8; 128 MiB for
/// AArch64 `bl` and elsewhere).
inline constexpr std::size_t default_max_code_space_size =
#if defined(JITCM_ARCH_X64)
    std::size_t{1} << 30;
#else
    std::size_t{128} << 20;
#endif

/// Settings shared by every allocator in jitcm::allocator. An aggregate: set
/// what you need with designated initialisers, in this order.
struct options {
  /// Alignment of every block and of block sizes; a power of two. Raised to
  /// a page when the W^X strategy gives every block pages of its own
  /// (protection::strategy_traits::exclusive_pages, e.g. mprotect_toggle).
  std::size_t alignment = default_code_alignment;
  /// No code space is larger. A block that does not fit in one, headers
  /// included, fails with errc::limit_exceeded.
  std::size_t max_code_space_size = default_max_code_space_size;
  /// Committed bytes of this allocator, headers included; 0 is unlimited.
  /// Passing it fails with errc::limit_exceeded.
  std::size_t max_committed = 0;
  /// Committed bytes shared with other allocators; nullptr for none. It must
  /// outlive the allocator.
  commit_budget* budget = nullptr;
  /// Bytes of executable memory at the start of every code space, committed
  /// when the space is reserved and never handed out (jump tables go there).
  std::size_t space_code_header = 0;
  /// Bytes of read-write data after the code header, on pages of their own
  /// (rounded up to whole pages), committed with commit_data when the space is
  /// reserved (far-jump target cells go there).
  std::size_t space_data_header = 0;
  /// Size of the first code space (V8's code-size estimate), raised to what
  /// its first block and the headers need; 0: min_code_space_size. An
  /// allocator that will hold little code (one of many modules) says so here.
  std::size_t initial_reservation = 0;
  /// Pages are committed and decommitted in aligned runs of this many bytes
  /// (rounded up to a power-of-two number of pages): larger runs cost fewer
  /// system calls, smaller ones hold less memory in partly used runs. A run
  /// is committed when the first block lands on it (or ahead of need), and
  /// decommitted some time after the last block leaves it (see
  /// max_spare_committed). The runs that hold the headers stay committed.
  std::size_t commit_granularity = std::size_t{64} << 10;
  /// Smallest code space reserved (before the cap by max_code_space_size),
  /// except a first space sized by initial_reservation. Reserving is cheap
  /// (address space; pages are committed as blocks need them), but every
  /// space costs a reservation, a shared memory object with dual mapping and
  /// side tables: 32 MiB makes a JIT that grows to 50 MB of code reserve two
  /// spaces where 2 MiB and V8's quarter of what is reserved made thirteen,
  /// at several system calls each.
  std::size_t min_code_space_size = std::size_t{32} << 20;
  /// Where code spaces should lie, whole: e.g. platform::within_reach of the
  /// runtime the code calls with direct branches (±2 GiB for x86-64 rel32,
  /// ±128 MiB for AArch64 bl). Each reservation tries hints inside it first,
  /// then anywhere (see platform::reserve_preferring); code_space::placed
  /// says which it got. Empty: anywhere.
  address_region preferred_range{};
  /// With a preferred_range: a space that cannot be placed in it is not
  /// reserved at all (errc::address_space_exhausted) rather than elsewhere.
  bool require_preferred_range = false;
  /// page_backing::transparent_huge: every code space starts on a large-page
  /// boundary, is sized, committed and decommitted in whole large pages (so
  /// no commit splits one) and is advised for transparent huge pages;
  /// code_space::pages says whether the kernel will back it with them
  /// (see platform/large_pages.hpp). A no-op where there are no large pages.
  /// Strategies that change protection inside a space (mprotect_toggle)
  /// split the large page a write lands on until the kernel merges it again;
  /// dual mapping gets them only where shared memory may use THP.
  platform::page_backing pages = platform::page_backing::normal;
  /// Committed bytes of commit units that hold no block which the allocator
  /// keeps (statistics: allocator_stats::spare) instead of decommitting: it
  /// commits up to half of this ahead of need when a block needs new units.
  /// Units that blocks leave stay committed (spare) and are decommitted in
  /// two ways (bump, which never decommits, keeps them all):
  ///   - a chunk at once: when the aligned chunk of this many bytes (rounded
  ///     down to a power of two, at least a unit) around a unit holds no
  ///     block, its spare units go in one call, as asmjit gives back a
  ///     block that empties;
  ///   - the scattered rest by age: while spare bytes pass this, units that
  ///     have been spare for decommit_interval frees are decommitted, a run
  ///     of adjacent units per call.
  /// Larger values cost fewer system calls, smaller ones hold less memory;
  /// 0 commits and decommits exactly per unit. Default: 2 MiB.
  std::size_t max_spare_committed = std::size_t{2} << 20;
  /// Frees a unit stays spare before it may be decommitted outside a wholly
  /// free chunk (see max_spare_committed). Freeing many blocks in random
  /// order empties their units in random order, each among live neighbours,
  /// mostly in the last few thousand frees; decommitting them as spare passed
  /// the limit cost a system call per unit (three with dual mapping), most
  /// of the time of such a free, where waiting lets their chunks empty and
  /// go a call each. Spare bytes outside wholly free chunks may pass
  /// max_spare_committed by what the last 1.5 intervals of frees left empty;
  /// allocator::basic_allocator::decommit_spare() gives all of it back at
  /// once. 0 decommits whenever spare bytes pass the limit, so that they
  /// never stay above it. Default: 4096.
  std::size_t decommit_interval = 4096;
};

}  // namespace jitcm::allocator
