// Definitions of <jitcm/platform/large_pages.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../large_pages.hpp"

#if defined(JITCM_OS_LINUX)
#include <sys/mman.h>
#endif

namespace jitcm::platform {

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

JITCM_DECL std::size_t large_page_size() noexcept {
  static const std::size_t size = detail::read_large_page_size();
  return size;
}

JITCM_DECL result<large_page_usage> large_page_usage_of(address_region region) noexcept {
  large_page_usage usage;
  auto read = detail::for_each_smaps_mapping(region, [&](address_region part, bool eligible, std::size_t huge) {
    if (eligible) usage.eligible += part.size();
    usage.huge += std::min(huge, part.size());
  });
  if (!read) return forward_error(read);
  return usage;
}

JITCM_DECL result<page_backing> advise_large_pages(address_region region) noexcept {
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

JITCM_DECL std::size_t large_page_size() noexcept { return 0; }
JITCM_DECL result<large_page_usage> large_page_usage_of(address_region) noexcept { return failure{errc::unsupported}; }
JITCM_DECL result<page_backing> advise_large_pages(address_region) noexcept { return page_backing::normal; }

#endif

}  // namespace jitcm::platform
