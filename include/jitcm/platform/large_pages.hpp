// Large pages for code, opt-in: a code space on 2 MiB pages needs one
// instruction-TLB entry where 4 KiB pages need 512, which matters to JITs
// whose hot code is spread over many functions.
//
// Linux backs memory with transparent huge pages (THP) when the region is
// advised with MADV_HUGEPAGE and the system allows it for that kind of
// memory: /sys/kernel/mm/transparent_hugepage/enabled for private memory
// (mprotect toggling), .../shmem_enabled for shared memory (dual mapping's
// memfd), where Debian's default is "never". MAP_HUGETLB is not used: it
// needs pages set aside by the administrator (vm.nr_hugepages) and decides
// the backing when the range is mapped, not when it is committed.
//
// | expression                   | result                       | guarantees |
// |------------------------------|------------------------------|------------|
// | `large_page_size()`          | `std::size_t`                | the THP size (2 MiB with 4 KiB pages); 0 where there are none |
// | `advise_large_pages(r)`      | `result<page_backing>`       | `r` is advised; says whether the kernel will back it with THP once touched |
// | `large_page_usage_of(r)`     | `result<large_page_usage>`   | what the kernel reports now (/proc/self/smaps) for the mappings in `r` |
//
// Example:
//
//   auto space = platform::reservation::reserve(8 << 20, 0, platform::large_page_size());
//   auto backing = platform::advise_large_pages(space->region());
//   if (backing && *backing == platform::page_backing::transparent_huge) { /* 2 MiB pages once touched */ }
//
// The advice belongs to the mapping: a range decommitted by remapping it
// (platform::decommit) and committed again is back on small pages, and a
// protection change inside a huge page splits it. Allocators therefore
// commit and decommit whole large pages when asked for them
// (allocator::options::pages).
//
// Thread safety: any thread.
#pragma once

#include <cstddef>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../base/result.hpp"
#include "placement_and_backing.hpp"

namespace jitcm::platform {

/// What the kernel says about a region's pages right now.
struct large_page_usage {
  std::size_t eligible = 0;  ///< bytes in mappings the kernel may back with huge pages
  std::size_t huge = 0;      ///< bytes backed by huge pages now
};

/// The transparent huge page size, read once; 0 where the kernel has none.
[[nodiscard]] JITCM_DECL std::size_t large_page_size() noexcept;

/// What /proc/self/smaps reports for the mappings overlapping `region`
/// (huge bytes counted at most up to each mapping's overlap).
/// Errors: the errno of opening /proc/self/smaps (no /proc mounted).
[[nodiscard]] JITCM_DECL result<large_page_usage> large_page_usage_of(address_region region) noexcept;

/// Advises `region` (page-aligned; best aligned to large_page_size()) for
/// transparent huge pages. Returns transparent_huge when the kernel now
/// counts the region eligible (smaps' THPeligible), normal when THP is off
/// for this kind of memory (or the kernel has no THP: EINVAL). Pages come
/// when first touched, if the kernel finds free 2 MiB blocks: see
/// large_page_usage_of for what it did. Errors: the OS error otherwise.
[[nodiscard]] JITCM_DECL result<page_backing> advise_large_pages(address_region region) noexcept;

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/large_pages.ipp"  // IWYU pragma: export
#endif
