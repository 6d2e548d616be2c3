// Which pages of this process really are mapped, and how: /proc/self/maps.
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
