// W^X by dual mapping where this process may use it, else by mprotect
// toggling with a page of its own per block: chosen once per process.
#pragma once

#include <utility>

#include "../base/config.hpp"
#include "dual_mapping.hpp"
#include "mprotect_toggle.hpp"
#include "strategy.hpp"

namespace jitcm::protection {

#if defined(JITCM_HAS_DUAL_MAPPING)

/// The strategies dual_mapping_or_mprotect chooses between.
enum class wx_choice { dual_mapping, mprotect_toggle };

/// Dual mapping needs an executable shared memory object (memfd, then
/// /dev/shm, then TMPDIR and /tmp), which hardened kernels, SELinux policies,
/// vm.memfd_noexec and noexec mounts may refuse; mprotect toggling needs only
/// anonymous memory. The first call that needs the choice (reserve,
/// chosen(), write_revokes_execute()) makes it for the whole process and
/// caches it:
///
/// - `JITCM_WX=mprotect` in the environment picks mprotect_toggle;
/// - `JITCM_WX=dual_mapping` picks dual_mapping even if the probe would
///   refuse it (reserve then fails with the OS's error);
/// - otherwise (unset or any other value) dual_mapping if a one-page probe
///   (reserve, commit, write, end the scope) succeeds, else mprotect_toggle.
///
/// Every space forwards to the chosen strategy. Both choices are safe with
/// threads running code while others write (under mprotect_toggle,
/// allocators give each block pages of its own: write_revokes_execute() and
/// so exclusive_pages() are true then), so what changes with the choice is
/// cost: dual mapping writes without a system call and packs blocks;
/// mprotect_toggle makes two protection changes per write scope and takes up
/// to a page per block.
///
/// Thread safety: every member from any thread, as the chosen strategy
/// allows; the first choice is made once even when threads race to it.
struct dual_mapping_or_mprotect {
  static constexpr const char* name = "dual_mapping_or_mprotect";

  /// The strategy this process uses; the first call may probe (a few system
  /// calls) and reads JITCM_WX.
  [[nodiscard]] static wx_choice chosen() noexcept;

  /// The chosen strategy's name: "dual_mapping" or "mprotect_toggle".
  [[nodiscard]] static const char* chosen_name() noexcept;

  /// What chosen() would pick for the JITCM_WX value `setting` (nullptr:
  /// unset), without caching it.
  [[nodiscard]] static wx_choice choose(const char* setting) noexcept;

  [[nodiscard]] static bool write_revokes_execute() noexcept;

  class space;

  class write_scope {
   public:
    write_scope() noexcept = default;

    /// Errors: the chosen strategy's.
    result<void> end() noexcept;

   private:
    friend class space;
    explicit write_scope(dual_mapping::write_scope scope) noexcept : dual_{std::move(scope)} {}
    explicit write_scope(mprotect_toggle::write_scope scope) noexcept : toggled_{std::move(scope)} {}
    // One of the two is open, the other empty (ending it does nothing): two
    // small members instead of a variant, whose index GCC takes for
    // uninitialised when a scope sits in an optional.
    dual_mapping::write_scope dual_;
    mprotect_toggle::write_scope toggled_;
  };

  class space {
   public:
    space() noexcept = default;

    [[nodiscard]] address_region region() const noexcept;
    [[nodiscard]] result<void> commit(address_region part) const noexcept;
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept;
    [[nodiscard]] result<void> decommit(address_region part) const noexcept;
    /// The chosen strategy's answer (a fixed offset for either), kept when
    /// the space is made: an allocator asks on every allocate, and a visit of
    /// the variant there cost about a fifth of it.
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address + write_offset_;
    }
    /// Errors: the chosen strategy's.
    [[nodiscard]] result<write_scope> begin_write(address_region part) noexcept;

   private:
    friend struct dual_mapping_or_mprotect;
    explicit space(dual_mapping::space memory) noexcept;
    explicit space(mprotect_toggle::space memory) noexcept;
    // Calls f with the space in use (see the members).
    template <class Self, class F>
    static auto with_memory(Self& self, F f);
    // One of the two is in use, the other empty, as in write_scope: a
    // std::variant here cost every TU that named the strategy its
    // instantiation.
    dual_mapping::space dual_;
    mprotect_toggle::space toggled_;
    bool uses_dual_ = true;
    // writable(a) - a, the same for every address of the space (modulo 2^N).
    std::uintptr_t write_offset_ = 0;
  };

  /// Reserves through the chosen strategy. Errors: its errors.
  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept;

 private:
  template <class Space>
  [[nodiscard]] static result<space> wrapped(result<Space> reserved) noexcept;
};

#endif  // JITCM_HAS_DUAL_MAPPING

}  // namespace jitcm::protection

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/dual_mapping_or_mprotect.ipp"  // IWYU pragma: export
#endif
