// refcount::never: retired code is never freed before its module goes.
#pragma once

#include <atomic>
#include <cstddef>
#include <span>

#include "../base/code.hpp"
#include "free_callback.hpp"

namespace jitcm::refcount {

/// For short-lived JITs (a query, a regex, a test): nothing is counted and
/// nothing is freed; retired code stays mapped until its module is
/// destroyed, so a thread may run any code it ever saw for the module's
/// whole life. Costs no scope and no lock.
///
/// Thread safety: every member may be called from any thread concurrently.
class never {
 public:
  /// Nothing to open: code is never freed under a running thread.
  struct scope {};

  explicit never(free_callback) noexcept {}

  [[nodiscard]] bool hold(const code&) const noexcept { return true; }
  void retire(const code&) noexcept { retired_.fetch_add(1, std::memory_order_relaxed); }
  std::size_t collect(std::span<const code* const>) const noexcept { return 0; }
  [[nodiscard]] std::size_t retired_count() const noexcept { return retired_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> retired_{0};
};

}  // namespace jitcm::refcount
