// No W^X: code pages are readable, writable and executable at once.
#pragma once

#include <utility>

#include "../platform/reservation.hpp"
#include "detail/flushing_write_scope.hpp"
#include "detail/page_span.hpp"

namespace jitcm::protection {

/// Unsafe, and named so: any memory-corruption bug in the process can then
/// rewrite code. For systems with no other choice, for debugging, and as a
/// baseline in benchmarks. Hardened kernels and SELinux's deny_execmem refuse
/// it (commit fails with EACCES or EPERM); see protection::probe.
///
/// On error every member leaves the space and its pages as they were.
///
/// Thread safety: every member from any thread (on disjoint regions).
struct rwx {
  static constexpr const char* name = "rwx";
  static constexpr bool write_revokes_execute = false;

  using write_scope = detail::flushing_write_scope;

  class space {
   public:
    space() noexcept = default;

    [[nodiscard]] address_region region() const noexcept { return memory_.region(); }
    [[nodiscard]] result<void> commit(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read_write_execute);
    }
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read_write);
    }
    [[nodiscard]] result<void> decommit(address_region part) const noexcept { return memory_.decommit(part); }
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address;
    }
    /// Errors: invalid_argument (empty), out_of_range (outside the space).
    [[nodiscard]] result<write_scope> begin_write(address_region part) const noexcept;

   private:
    friend struct rwx;
    explicit space(platform::reservation memory) noexcept : memory_{std::move(memory)} {}
    platform::reservation memory_;
  };

  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept;
};

}  // namespace jitcm::protection

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/rwx.ipp"  // IWYU pragma: export
#endif
