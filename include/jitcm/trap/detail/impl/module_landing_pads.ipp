// Definitions of <jitcm/trap/detail/module_landing_pads.hpp> (see
// allocator/impl/tlsf.ipp): only setting a pad and a fault reach them.
#pragma once

#include <atomic>
#include <cstdint>

#include "../module_landing_pads.hpp"

namespace jitcm::trap::detail {

JITCM_DECL result<void> module_landing_pads::set(const void* module, std::uintptr_t pad) noexcept {
  if (module == nullptr || pad == 0) return failure{errc::invalid_argument};
  entry* free_entry = nullptr;
  for (entry& e : entries_) {
    const void* owner = e.module.load(std::memory_order_relaxed);
    if (owner == module) {
      e.pad.store(pad, std::memory_order_release);
      return {};
    }
    if (owner == nullptr && free_entry == nullptr) free_entry = &e;
  }
  if (free_entry == nullptr) return failure{errc::limit_exceeded};
  free_entry->pad.store(pad, std::memory_order_release);
  free_entry->module.store(module, std::memory_order_release);
  return {};
}

JITCM_DECL bool module_landing_pads::clear(const void* module) noexcept {
  for (entry& e : entries_) {
    if (module != nullptr && e.module.load(std::memory_order_relaxed) == module) {
      e.module.store(nullptr, std::memory_order_release);
      e.pad.store(0, std::memory_order_release);
      return true;
    }
  }
  return false;
}

JITCM_DECL void module_landing_pads::clear_all() noexcept {
  for (entry& e : entries_) {
    e.module.store(nullptr, std::memory_order_release);
    e.pad.store(0, std::memory_order_release);
  }
}

JITCM_DECL std::uintptr_t module_landing_pads::find(const void* module) const noexcept {
  if (module == nullptr) return 0;
  for (const entry& e : entries_) {
    if (e.module.load(std::memory_order_acquire) != module) continue;
    const std::uintptr_t pad = e.pad.load(std::memory_order_acquire);
    if (e.module.load(std::memory_order_acquire) == module) return pad;
  }
  return 0;
}

}  // namespace jitcm::trap::detail
