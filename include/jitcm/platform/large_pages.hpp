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

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../base/result.hpp"
#include "placement_and_backing.hpp"

#if defined(JITCM_OS_LINUX)
#include <sys/mman.h>
#endif

namespace jitcm::platform {

/// What the kernel says about a region's pages right now.
struct large_page_usage {
  std::size_t eligible = 0;  ///< bytes in mappings the kernel may back with huge pages
  std::size_t huge = 0;      ///< bytes backed by huge pages now
};

#if defined(JITCM_OS_LINUX)

namespace detail {

/// Calls `visit(part, eligible, huge_bytes)` for each mapping in
/// /proc/self/smaps that overlaps `region`: the part inside `region`,
/// whether the kernel may back the mapping with huge pages (THPeligible),
/// and the bytes of it on huge pages now. Errors: the errno of fopen.
template <class Visit>
[[nodiscard]] result<void> for_each_smaps_mapping(address_region region, Visit visit) noexcept {
  std::FILE* smaps = std::fopen("/proc/self/smaps", "re");
  if (smaps == nullptr) return system_failure(errno);
  struct mapping_fields {
    std::size_t eligible = 0, anon_huge = 0, shmem_huge = 0;
  };
  address_region overlap;
  mapping_fields fields;
  const auto flush = [&] {
    if (!overlap.empty()) visit(overlap, fields.eligible != 0, fields.anon_huge + fields.shmem_huge);
    overlap = {};
    fields = {};
  };
  char line[512];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long begin = 0, end = 0;
    char dash = 0;
    if (std::sscanf(line, "%lx%c%lx ", &begin, &dash, &end) == 3 && dash == '-') {
      flush();
      const std::uintptr_t low = std::max<std::uintptr_t>(begin, region.begin());
      const std::uintptr_t high = std::min<std::uintptr_t>(end, region.end());
      if (low < high) overlap = {low, high - low};
      continue;
    }
    if (overlap.empty()) continue;
    unsigned long value = 0;
    if (std::sscanf(line, "THPeligible: %lu", &value) == 1) fields.eligible = value;
    if (std::sscanf(line, "AnonHugePages: %lu kB", &value) == 1) fields.anon_huge = value << 10;
    if (std::sscanf(line, "ShmemPmdMapped: %lu kB", &value) == 1) fields.shmem_huge = value << 10;
  }
  flush();
  std::fclose(smaps);
  return {};
}

[[nodiscard]] inline std::size_t read_large_page_size() noexcept {
  std::FILE* file = std::fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
  if (file == nullptr) return 0;
  unsigned long size = 0;
  if (std::fscanf(file, "%lu", &size) != 1) size = 0;
  std::fclose(file);
  return size;
}

}  // namespace detail

/// The transparent huge page size, read once; 0 where the kernel has none.
[[nodiscard]] inline std::size_t large_page_size() noexcept {
  static const std::size_t size = detail::read_large_page_size();
  return size;
}

/// What /proc/self/smaps reports for the mappings overlapping `region`
/// (huge bytes counted at most up to each mapping's overlap).
/// Errors: the errno of opening /proc/self/smaps (no /proc mounted).
[[nodiscard]] inline result<large_page_usage> large_page_usage_of(address_region region) noexcept {
  large_page_usage usage;
  auto read = detail::for_each_smaps_mapping(region, [&](address_region part, bool eligible, std::size_t huge) {
    if (eligible) usage.eligible += part.size();
    usage.huge += std::min(huge, part.size());
  });
  if (!read) return forward_error(read);
  return usage;
}

/// Advises `region` (page-aligned; best aligned to large_page_size()) for
/// transparent huge pages. Returns transparent_huge when the kernel now
/// counts the region eligible (smaps' THPeligible), normal when THP is off
/// for this kind of memory (or the kernel has no THP: EINVAL). Pages come
/// when first touched, if the kernel finds free 2 MiB blocks: see
/// large_page_usage_of for what it did. Errors: the OS error otherwise.
[[nodiscard]] inline result<page_backing> advise_large_pages(address_region region) noexcept {
  if (large_page_size() == 0) return page_backing::normal;
  if (::madvise(region.pointer(), region.size(), MADV_HUGEPAGE) != 0) {
    if (errno == EINVAL) return page_backing::normal;
    return system_failure(errno);
  }
  auto usage = large_page_usage_of(region);
  if (!usage) return page_backing::transparent_huge;  // no /proc: the advice was taken, trust it
  return usage->eligible != 0 ? page_backing::transparent_huge : page_backing::normal;
}

#else

[[nodiscard]] inline std::size_t large_page_size() noexcept { return 0; }
[[nodiscard]] inline result<large_page_usage> large_page_usage_of(address_region) noexcept {
  return failure{errc::unsupported};
}
[[nodiscard]] inline result<page_backing> advise_large_pages(address_region) noexcept { return page_backing::normal; }

#endif

}  // namespace jitcm::platform
