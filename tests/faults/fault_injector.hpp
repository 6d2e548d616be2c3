// fault_injector: refuses the k-th OS call or bookkeeping allocation (or
// every one, or those at chosen points) through platform::set_fault_hook.
#pragma once

#include <jitcm/platform/fault_injection.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <system_error>

namespace jitcm::testing {

[[nodiscard]] inline const char* name_of(platform::fault_point point) noexcept {
  switch (point) {
    case platform::fault_point::reserve:
      return "reserve";
    case platform::fault_point::commit:
      return "commit";
    case platform::fault_point::protect:
      return "protect";
    case platform::fault_point::decommit:
      return "decommit";
    case platform::fault_point::unmap:
      return "unmap";
    case platform::fault_point::create_shared_memory:
      return "create_shared_memory";
    case platform::fault_point::resize_shared_memory:
      return "resize_shared_memory";
    case platform::fault_point::map_shared_memory:
      return "map_shared_memory";
    case platform::fault_point::side_allocation:
      return "side_allocation";
  }
  return "?";
}

/// While it lives, counts the hooked calls at `points` (empty: every
/// point) and refuses the `refuse_at`-th one (0: none; every_call: all of
/// them) with `error`, or with platform::typical_error when `error` is
/// empty. One at a time per process: the hook is process-wide.
class fault_injector {
 public:
  static constexpr long every_call = -1;

  explicit fault_injector(long refuse_at, std::initializer_list<platform::fault_point> points = {},
                          std::error_code error = {}) {
    state().calls = 0;
    state().refuse_at = refuse_at;
    state().refused = false;
    state().points = 0;
    for (platform::fault_point p : points) state().points |= 1u << static_cast<unsigned>(p);
    state().error = error;
    state().logged = 0;
    previous_ = platform::set_fault_hook(&hook);
  }
  fault_injector(const fault_injector&) = delete;
  fault_injector& operator=(const fault_injector&) = delete;
  ~fault_injector() { disarm(); }

  /// Stops refusing; returns the call that was refused, if any.
  std::optional<platform::fault_site> disarm() {
    if (armed_) {
      platform::set_fault_hook(previous_);
      armed_ = false;
    }
    if (!state().refused) return std::nullopt;
    return state().refused_site;
  }

  /// Hooked calls seen so far.
  [[nodiscard]] static long calls() noexcept { return state().calls.load(); }

  /// One call the hook saw, and whether it refused it.
  struct logged_call {
    platform::fault_site site;
    bool refused = false;
  };
  static constexpr std::size_t log_capacity = 256;
  using call_log = std::array<logged_call, log_capacity>;

  /// The first log_capacity calls seen since the last injector was made
  /// (stored without allocating: the hook may run anywhere); `size` says how
  /// many there are.
  [[nodiscard]] static const call_log& log(std::size_t& size) noexcept {
    size = std::min<std::size_t>(static_cast<std::size_t>(state().logged.load()), log_capacity);
    return state().log;
  }

 private:
  struct shared_state {
    std::atomic<long> calls{0};
    std::atomic<long> refuse_at{0};
    std::atomic<bool> refused{false};
    platform::fault_site refused_site{};
    unsigned points = 0;  // bit per fault_point; 0: all
    std::error_code error;
    call_log log{};
    std::atomic<long> logged{0};
  };
  static shared_state& state() noexcept {
    static shared_state s;
    return s;
  }
  static std::error_code hook(const platform::fault_site& site) noexcept {
    const unsigned bit = 1u << static_cast<unsigned>(site.point);
    if (state().points != 0 && (state().points & bit) == 0) return {};
    const long call = ++state().calls;
    const long refuse_at = state().refuse_at.load();
    const bool refuse = refuse_at == every_call || call == refuse_at;
    const auto slot = static_cast<std::size_t>(state().logged++);
    if (slot < log_capacity) state().log[slot] = {site, refuse};
    if (!refuse) return {};
    if (!state().refused.exchange(true)) state().refused_site = site;
    return state().error ? state().error : platform::typical_error(site.point);
  }

  platform::fault_hook previous_ = nullptr;
  bool armed_ = true;
};

}  // namespace jitcm::testing
