// An owned range of reserved address space whose operations are checked
// against it.
#pragma once

#include <utility>

#include "virtual_memory.hpp"

namespace jitcm::platform {

/// Owns a reservation and releases it on destruction. Every operation checks
/// that its region lies inside the reservation (errc::out_of_range otherwise)
/// and is page-aligned (errc::misaligned), so a bad argument never reaches
/// the OS and never touches memory the reservation does not own.
///
/// On error every operation leaves the reservation and its pages as they were.
///
/// Thread safety: const members from any thread; commit, decommit and protect
/// on disjoint regions from different threads; release and moves exclusive.
class reservation {
 public:
  reservation() noexcept = default;

  /// See platform::reserve.
  [[nodiscard]] static result<reservation> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                                   std::size_t alignment = 0) noexcept;

  reservation(reservation&& other) noexcept : region_{std::exchange(other.region_, {})} {}
  reservation& operator=(reservation&& other) noexcept {
    if (this != &other) {
      unmap_or_forget();
      region_ = std::exchange(other.region_, {});
    }
    return *this;
  }
  reservation(const reservation&) = delete;
  reservation& operator=(const reservation&) = delete;
  ~reservation() { unmap_or_forget(); }

  [[nodiscard]] address_region region() const noexcept { return region_; }
  [[nodiscard]] bool is_unmapped() const noexcept { return region_.empty(); }

  [[nodiscard]] result<void> commit(address_region part, access a) const noexcept;
  [[nodiscard]] result<void> decommit(address_region part) const noexcept;
  [[nodiscard]] result<void> protect(address_region part, access a) const noexcept;

  /// Errors: already_unmapped on a second call; the OS error (the
  /// reservation is kept, and release may be called again).
  result<void> unmap() noexcept;

 private:
  explicit reservation(address_region region) noexcept : region_{region} {}

  // Where nobody can be told that the OS refused the release, the pages'
  // memory still goes back and they become inaccessible: at worst address
  // space leaks, never memory or code.
  void unmap_or_forget() noexcept;

  [[nodiscard]] result<void> check(address_region part) const noexcept;

  address_region region_;
};

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/reservation.ipp"  // IWYU pragma: export
#endif
