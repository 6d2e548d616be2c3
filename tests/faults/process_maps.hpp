// Which pages of this process really are mapped, and how: /proc/self/maps,
// or on Windows what VirtualQuery says, spelt as /proc/self/maps would.
#pragma once

#include <jitcm/address_region.hpp>
#include <jitcm/platform/virtual_memory.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "catch.hpp"

#if defined(_WIN32)
#include <jitcm/platform/detail/windows_api.hpp>
#endif

namespace jitcm::testing {

struct mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  char perms[5] = {};

  [[nodiscard]] bool accessible() const noexcept { return perms[0] != '-' || perms[1] != '-' || perms[2] != '-'; }
  [[nodiscard]] bool writable() const noexcept { return perms[1] == 'w'; }
  [[nodiscard]] bool executable() const noexcept { return perms[2] == 'x'; }
  [[nodiscard]] std::size_t size() const noexcept { return end - begin; }
};

#if defined(_WIN32)

/// The /proc/self/maps permissions of a VirtualQuery region.
inline void describe_protection(const MEMORY_BASIC_INFORMATION& info, char (&perms)[5]) {
  std::snprintf(perms, sizeof perms, "---%c", info.Type == MEM_PRIVATE ? 'p' : 's');
  if (info.State != MEM_COMMIT) return;
  switch (info.Protect & 0xFF) {
    case PAGE_READONLY:
      perms[0] = 'r';
      break;
    case PAGE_READWRITE:
    case PAGE_WRITECOPY:
      perms[0] = 'r';
      perms[1] = 'w';
      break;
    case PAGE_EXECUTE:
      perms[2] = 'x';
      break;
    case PAGE_EXECUTE_READ:
      perms[0] = 'r';
      perms[2] = 'x';
      break;
    case PAGE_EXECUTE_READWRITE:
    case PAGE_EXECUTE_WRITECOPY:
      perms[0] = 'r';
      perms[1] = 'w';
      perms[2] = 'x';
      break;
    default:
      break;
  }
}

/// Every reserved or committed range of this process, in address order.
inline std::vector<mapping> process_maps() {
  std::vector<mapping> maps;
  SYSTEM_INFO system;
  GetSystemInfo(&system);
  auto at = reinterpret_cast<std::uintptr_t>(system.lpMinimumApplicationAddress);
  const auto last = reinterpret_cast<std::uintptr_t>(system.lpMaximumApplicationAddress);
  MEMORY_BASIC_INFORMATION info;
  while (at < last && VirtualQuery(reinterpret_cast<void*>(at), &info, sizeof info) == sizeof info) {
    const auto begin = reinterpret_cast<std::uintptr_t>(info.BaseAddress);
    if (info.State != MEM_FREE) {
      mapping m;
      m.begin = begin;
      m.end = begin + info.RegionSize;
      describe_protection(info, m.perms);
      maps.push_back(m);
    }
    at = begin + info.RegionSize;
  }
  return maps;
}

#else

/// Every mapping of this process, in address order.
inline std::vector<mapping> process_maps() {
  std::vector<mapping> maps;
  std::FILE* file = std::fopen("/proc/self/maps", "r");
  REQUIRE(file != nullptr);
  char* line = nullptr;
  std::size_t capacity = 0;
  while (::getline(&line, &capacity, file) > 0) {
    mapping m;
    std::uintmax_t begin = 0, end = 0;
    if (std::sscanf(line, "%jx-%jx %4s", &begin, &end, m.perms) != 3) continue;
    m.begin = static_cast<std::uintptr_t>(begin);
    m.end = static_cast<std::uintptr_t>(end);
    maps.push_back(m);
  }
  std::free(line);
  std::fclose(file);
  return maps;
}

#endif  // _WIN32

/// The mappings overlapping `region`, cut to it.
inline std::vector<mapping> mappings_in(address_region region) {
  std::vector<mapping> inside;
  for (mapping m : process_maps()) {
    if (m.end <= region.begin() || m.begin >= region.end()) continue;
    m.begin = std::max(m.begin, region.begin());
    m.end = std::min(m.end, region.end());
    inside.push_back(m);
  }
  return inside;
}

/// Bytes of `region` that some access is granted to.
inline std::size_t accessible_bytes(address_region region) {
  std::size_t bytes = 0;
  for (const mapping& m : mappings_in(region)) bytes += m.accessible() ? m.size() : 0;
  return bytes;
}

/// For each page of `region`, whether any access is granted to it.
inline std::vector<bool> accessible_pages(address_region region) {
  const std::size_t page = platform::page_size();
  std::vector<bool> pages(region.size() / page, false);
  for (const mapping& m : mappings_in(region)) {
    if (!m.accessible()) continue;
    for (std::uintptr_t p = m.begin; p < m.end; p += page) pages[(p - region.begin()) / page] = true;
  }
  return pages;
}

/// The access of the page holding `address` ("" when unmapped).
inline std::string access_at(std::uintptr_t address) {
  for (const mapping& m : mappings_in({address, 1})) return m.perms;
  return {};
}

}  // namespace jitcm::testing
