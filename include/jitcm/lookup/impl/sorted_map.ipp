// Definitions of <jitcm/lookup/sorted_map.hpp> (see
// allocator/impl/tlsf.ipp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <mutex>

#include "../sorted_map.hpp"

namespace jitcm::lookup {

JITCM_DECL result<void> sorted_map::insert(const code* c) {
  if (c == nullptr) return failure{errc::invalid_argument};
  const address_region region = c->instructions();
  std::lock_guard lock{mutex_};
  const auto next = codes_.lower_bound(region.begin());
  if (next != codes_.end() && next->second->instructions().overlaps(region)) {
    return failure{errc::overlapping_region};
  }
  if (next != codes_.begin() && std::prev(next)->second->instructions().overlaps(region)) {
    return failure{errc::overlapping_region};
  }
  codes_.emplace_hint(next, region.begin(), c);
  return {};
}

JITCM_DECL result<void> sorted_map::erase(const code* c) {
  if (c == nullptr) return failure{errc::not_owned};
  std::lock_guard lock{mutex_};
  const auto it = codes_.find(c->instruction_start());
  if (it == codes_.end() || it->second != c) return failure{errc::not_owned};
  codes_.erase(it);
  return {};
}

JITCM_DECL const code* sorted_map::find(std::uintptr_t pc) const {
  std::lock_guard lock{mutex_};
  auto it = codes_.upper_bound(pc);
  if (it == codes_.begin()) return nullptr;
  --it;
  return it->second->contains(pc) ? it->second : nullptr;
}

JITCM_DECL std::size_t sorted_map::size() const {
  std::lock_guard lock{mutex_};
  return codes_.size();
}

}  // namespace jitcm::lookup
