// W^X by dual mapping: code is written through a read-write view and runs
// from a read-execute view of the same memory; no protection ever changes.
#pragma once

#include <utility>

#include "../platform/dual_mapping.hpp"
#include "detail/flushing_write_scope.hpp"
#include "detail/page_span.hpp"

namespace jitcm::protection {

#if defined(JITCM_HAS_DUAL_MAPPING)

/// Writes go to the RW view (`writable(a)` is `a` plus a fixed offset), code
/// runs from the RX view, and neither changes protection after commit, so a
/// write scope costs no system call and many threads may write into one space
/// at once (on disjoint bytes). The RW view is a second address at which an
/// attacker who can write memory could write code: the price of the speed.
/// Needs an executable shared memory object (memfd or /dev/shm); reserve
/// fails with errc::unsupported where the system forbids one, and with the
/// OS's errno when a resource runs out (EMFILE: each space holds one file
/// descriptor).
///
/// On error: reserve leaves nothing reserved or open; commit and decommit
/// change both views or neither (see platform::dual_mapped_reservation;
/// a refused decommit may already have dropped the pages' contents).
///
/// Thread safety: every member from any thread (on disjoint regions).
struct dual_mapping {
  static constexpr const char* name = "dual_mapping";
  static constexpr bool write_revokes_execute = false;

  using write_scope = detail::flushing_write_scope;

  class space {
   public:
    space() noexcept = default;

    [[nodiscard]] address_region region() const noexcept { return memory_.executable(); }
    [[nodiscard]] result<void> commit(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read_execute);
    }
    /// The executable view of data pages is read-only: far-jump targets and
    /// the like are read there and written through writable().
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept {
      return memory_.commit(part, platform::access::read);
    }
    [[nodiscard]] result<void> decommit(address_region part) const noexcept { return memory_.decommit(part); }
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address + memory_.write_offset();
    }
    /// Errors: invalid_argument (empty), out_of_range (outside the space).
    [[nodiscard]] result<write_scope> begin_write(address_region part) const noexcept;

    /// The whole read-write view, for tests and diagnostics.
    [[nodiscard]] address_region writable_view() const noexcept { return memory_.writable(); }

   private:
    friend struct dual_mapping;
    explicit space(platform::dual_mapped_reservation memory) noexcept : memory_{std::move(memory)} {}
    platform::dual_mapped_reservation memory_;
  };

  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept;
};

#endif  // JITCM_HAS_DUAL_MAPPING

}  // namespace jitcm::protection

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/dual_mapping.ipp"  // IWYU pragma: export
#endif
