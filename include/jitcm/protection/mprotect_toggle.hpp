// W^X by toggling page protection: code pages are read-execute at rest and
// read-write only inside a write scope.
#pragma once

#include <memory>
#include <utility>

#include "../base/config.hpp"
#include "../detail/assert.hpp"
#include "../platform/reservation.hpp"

namespace jitcm::protection {

/// Pages are RX at rest. A write scope makes the pages it covers RW and, when
/// the outermost scope of the thread ends, turns them back to RX and flushes
/// the instruction cache: however many functions are written inside one
/// scope, that is one protection change there and one back per region.
///
/// A protection change applies to every thread, so a space lets one thread
/// write at a time: a write scope holds the space's write lock until the
/// outermost scope ends, and must end on the thread that began it. Nested
/// scopes of that thread covering pages already writable change nothing;
/// a nested scope covering other pages makes those writable too.
///
/// So a write scope takes execute permission from its pages for every
/// thread (write_revokes_execute), and allocators give every block pages of
/// its own (exclusive_pages, the default that follows): new code is written
/// on pages no published code lies on, sealed RX when its scope ends, and a
/// page is written again only after the block on it was freed. Threads may
/// run published code while others write. The cost: up to a page per block
/// (a 100-byte function takes 4 KiB), so batch small functions into one
/// block. Rewriting published code in place (inline caches) still takes
/// execute permission from it while the scope is open: use dual_mapping for
/// code patched while it runs. protection::mprotect_toggle_single_threaded
/// packs blocks instead, for JITs whose code never runs while they write.
///
/// Only pages committed as code (commit) may be written: a write scope never
/// makes reserved or data pages accessible. When the OS refuses to make pages
/// RX again at the end of a scope, the space remembers them: until it has
/// made them RX (it retries before every begin_write and ready()), it refuses
/// to be written or allocated in with errc::space_unusable, so code is never
/// placed or published in pages that cannot execute.
///
/// Thread safety: begin_write from any thread (serialised per space);
/// commit, commit_data and decommit from any thread on disjoint regions.
struct mprotect_toggle {
  static constexpr const char* name = "mprotect_toggle";
  static constexpr bool write_revokes_execute = true;

  class space;

  class write_scope {
   public:
    write_scope() noexcept = default;
    write_scope(write_scope&& other) noexcept : writers_{std::exchange(other.writers_, nullptr)} {}
    write_scope& operator=(write_scope&& other) noexcept {
      if (this != &other) {
        JITCM_ASSERT_CLEANUP(end());
        writers_ = std::exchange(other.writers_, nullptr);
      }
      return *this;
    }
    ~write_scope() { JITCM_ASSERT_CLEANUP(end()); }

    /// Errors: the OS error when a page could not be made RX again. The
    /// scope still ends and releases the space; those pages stay RW and the
    /// space answers errc::space_unusable until it makes them RX.
    result<void> end() noexcept;

   private:
    friend class space;
    friend struct mprotect_toggle;
    struct writers;
    explicit write_scope(writers* w) noexcept : writers_{w} {}
    // The space's writer state lives on the heap, so a scope stays valid
    // when the space object itself is moved (allocators keep spaces in
    // growing containers).
    writers* writers_ = nullptr;
  };

  class space {
   public:
    space() noexcept = default;
    // Out of line: the writer state is complete only where they are defined.
    space(space&& other) noexcept;
    space& operator=(space&& other) noexcept;
    ~space();

    [[nodiscard]] address_region region() const noexcept { return memory_.region(); }

    // On error each leaves the pages as they were (see platform::reservation).
    [[nodiscard]] result<void> commit(address_region part) const noexcept;
    [[nodiscard]] result<void> commit_data(address_region part) const noexcept;
    [[nodiscard]] result<void> decommit(address_region part) const noexcept;
    [[nodiscard]] std::uintptr_t writable(std::uintptr_t executable_address) const noexcept {
      return executable_address;
    }

    /// Errors: invalid_argument (empty), out_of_range (outside the space),
    /// not_committed (a page of `part` is not committed as code),
    /// space_unusable (pages a failed scope left RW still cannot be made
    /// RX), the OS error of a refused protection change; nothing changed on
    /// error.
    [[nodiscard]] result<write_scope> begin_write(address_region part) noexcept;

    /// No error when code may be placed in the space; errc::space_unusable
    /// while pages a failed scope left RW cannot be made RX (tried again on
    /// each call). Allocators ask before handing out a block.
    [[nodiscard]] result<void> ready() noexcept;

   private:
    friend struct mprotect_toggle;
    space(platform::reservation memory, std::unique_ptr<write_scope::writers> writers) noexcept;

    platform::reservation memory_;
    std::unique_ptr<write_scope::writers> writers_;
  };

  /// Errors: as platform::reserve; ENOMEM when the space's bookkeeping
  /// cannot be allocated (nothing stays reserved then).
  [[nodiscard]] static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                             std::size_t alignment = 0) noexcept;
};

}  // namespace jitcm::protection

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/mprotect_toggle.ipp"  // IWYU pragma: export
#endif
