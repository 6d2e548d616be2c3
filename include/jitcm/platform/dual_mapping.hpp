// One memory object mapped twice: a read-write view the JIT writes through
// and a read-execute view the code runs from. Neither view ever changes
// protection after commit, so writing code needs no system call and no page
// is ever writable and executable at one address.
//
// fork(): both views are MAP_SHARED, so without care a child and its parent
// would share one memory object and could rewrite each other's code. The
// writable view is therefore not inherited (MADV_DONTFORK), and the object
// knows the process that created it. What a child may do with a
// dual_mapped_reservation it inherited:
//   - run code its parent published (the executable view is inherited); the
//     parent may still free or rewrite that code at any time;
//   - destroy it or release() it: that unmaps the child's views only;
//   - nothing else: commit and decommit fail with errc::not_owned, and a
//     store through writable() faults in the child (the view is gone) instead
//     of landing in the parent's code.
// A child that compiles code does so in code spaces it reserves itself (a new
// code manager, or new modules), which are its own.
#pragma once

#include <utility>

#include "reservation.hpp"

#if defined(JITCM_OS_LINUX)
#include <sys/types.h>
#define JITCM_HAS_DUAL_MAPPING 1
#elif defined(JITCM_OS_WINDOWS)
#include "detail/windows_dual_mapping.hpp"
#define JITCM_HAS_DUAL_MAPPING 1
#endif

namespace jitcm::platform {

#if defined(JITCM_HAS_DUAL_MAPPING) && defined(JITCM_OS_LINUX)

/// A reservation whose pages are one shared memory object seen at two
/// addresses: `executable()` (read-execute once committed) and `writable()`
/// (read-write once committed). Offsets match: the byte at executable
/// address `a` is written at `a + write_offset()`.
///
/// Every operation that changes both views changes both or, when the OS
/// refuses the second, undoes the first and reports the error.
///
/// Thread safety: as platform::reservation.
class dual_mapped_reservation {
 public:
  dual_mapped_reservation() noexcept = default;

  /// Errors: as platform::reserve, and as detail::create_shared_memory
  /// (EMFILE when the process is out of descriptors; errc::unsupported only
  /// when executable shared memory is missing or forbidden); nothing is
  /// reserved or open on error.
  [[nodiscard]] static result<dual_mapped_reservation> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                                               std::size_t alignment = 0) noexcept;

  dual_mapped_reservation(dual_mapped_reservation&& other) noexcept
      : executable_{std::move(other.executable_)},
        writable_{std::move(other.writable_)},
        fd_{std::exchange(other.fd_, -1)},
        owner_{other.owner_} {}
  dual_mapped_reservation& operator=(dual_mapped_reservation&& other) noexcept {
    if (this != &other) {
      (void)unmap();
      executable_ = std::move(other.executable_);
      writable_ = std::move(other.writable_);
      fd_ = std::exchange(other.fd_, -1);
      owner_ = other.owner_;
    }
    return *this;
  }
  dual_mapped_reservation(const dual_mapped_reservation&) = delete;
  dual_mapped_reservation& operator=(const dual_mapped_reservation&) = delete;
  ~dual_mapped_reservation() { (void)unmap(); }

  /// The addresses code runs at.
  [[nodiscard]] address_region executable() const noexcept { return executable_.region(); }
  /// The addresses code is written at.
  [[nodiscard]] address_region writable() const noexcept { return writable_.region(); }
  [[nodiscard]] std::uintptr_t write_offset() const noexcept {
    return writable_.region().begin() - executable_.region().begin();
  }

  /// Whether this process created the mapping (false in a child created by
  /// fork(), which may only run the code and release; see the top of this
  /// header).
  [[nodiscard]] bool owned_by_this_process() const noexcept { return owner_ == this_process(); }

  /// Commits `part` (executable addresses) with access `executable_access`
  /// in the executable view and read-write in the writable view. On error
  /// both views of `part` are inaccessible, as before. Errors: not_owned in
  /// a child created by fork(); as reservation::commit.
  [[nodiscard]] result<void> commit(address_region part,
                                    access executable_access = access::read_execute) const noexcept;

  /// Frees the memory of `part` (executable addresses) and makes both views
  /// of it inaccessible; the range stays reserved and reads as zero once
  /// committed again. On error both views keep their access; the contents
  /// may already read as zero (the memory goes back first, so that a
  /// refused protection change never leaves one view without the other).
  /// Errors: not_owned in a child created by fork() (the memory is its
  /// parent's); invalid_argument, misaligned, out_of_range; OS errors.
  [[nodiscard]] result<void> decommit(address_region part) const noexcept;

  /// Releases both views and closes the memory object. Errors:
  /// already_unmapped on a second call; the first OS error of a view whose
  /// release was refused (it is retried, or emptied of memory, when this
  /// object is destroyed).
  result<void> unmap() noexcept;

 private:
  [[nodiscard]] static pid_t this_process() noexcept;

  dual_mapped_reservation(reservation executable, reservation writable, int fd) noexcept
      : executable_{std::move(executable)}, writable_{std::move(writable)}, fd_{fd} {}

  [[nodiscard]] result<void> punch_hole(address_region part) const noexcept;

  [[nodiscard]] address_region shifted(address_region part) const noexcept {
    return {part.begin() + write_offset(), part.size()};
  }

  reservation executable_;
  reservation writable_;
  int fd_ = -1;
  pid_t owner_ = this_process();
};

#endif  // JITCM_HAS_DUAL_MAPPING && JITCM_OS_LINUX

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/dual_mapping.ipp"  // IWYU pragma: export
#endif
