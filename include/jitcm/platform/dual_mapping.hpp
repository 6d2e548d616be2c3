// One memory object mapped twice: a read-write view the JIT writes through
// and a read-execute view the code runs from. Neither view ever changes
// protection after commit, so writing code needs no system call and no page
// is ever writable and executable at one address.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "reservation.hpp"

#if defined(JITCM_OS_LINUX)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define JITCM_HAS_DUAL_MAPPING 1
#endif

namespace jitcm::platform {

#if defined(JITCM_HAS_DUAL_MAPPING)

namespace detail {

/// Creates an unnamed shared memory object of `size` bytes. memfd_create is
/// preferred; where it is missing, or its objects may not be mapped
/// executable (vm.memfd_noexec, noexec mounts), an unlinked file in /dev/shm
/// and then in the temporary directory takes its place.
[[nodiscard]] inline int create_shared_memory(std::size_t size) noexcept {
  int fd = -1;
#if defined(MFD_CLOEXEC)
  unsigned flags = MFD_CLOEXEC;
#if defined(MFD_EXEC)
  flags |= MFD_EXEC;
#endif
  fd = ::memfd_create("jitcm-code", flags);
#if defined(MFD_EXEC)
  if (fd < 0 && errno == EINVAL) fd = ::memfd_create("jitcm-code", MFD_CLOEXEC);
#endif
#endif
  if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(size)) == 0) {
    // Probe executability once: a noexec policy shows up only at mmap time.
    void* probe = ::mmap(nullptr, page_size(), PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (probe != MAP_FAILED) {
      ::munmap(probe, page_size());
      return fd;
    }
  }
  if (fd >= 0) ::close(fd);
  for (const char* directory : {"/dev/shm", static_cast<const char*>(std::getenv("TMPDIR")), "/tmp"}) {
    if (directory == nullptr) continue;
    char path[256];
    std::snprintf(path, sizeof path, "%s/jitcm-code-XXXXXX", directory);
    fd = ::mkostemp(path, O_CLOEXEC);
    if (fd < 0) continue;
    ::unlink(path);
    if (::ftruncate(fd, static_cast<off_t>(size)) == 0) {
      void* probe = ::mmap(nullptr, page_size(), PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
      if (probe != MAP_FAILED) {
        ::munmap(probe, page_size());
        return fd;
      }
    }
    ::close(fd);
  }
  return -1;
}

/// Maps `size` bytes of `fd` over the reserved range at `at`, inaccessible
/// until committed.
[[nodiscard]] inline result<void> map_view(std::uintptr_t at, std::size_t size, int fd) noexcept {
  void* p = ::mmap(reinterpret_cast<void*>(at), size, PROT_NONE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) return system_failure(errno);
  return {};
}

}  // namespace detail

/// A reservation whose pages are one shared memory object seen at two
/// addresses: `executable()` (read-execute once committed) and `writable()`
/// (read-write once committed). Offsets match: the byte at executable
/// address `a` is written at `a + write_offset()`.
///
/// Thread safety: as platform::reservation.
class dual_mapped_reservation {
 public:
  dual_mapped_reservation() noexcept = default;

  /// Errors: as platform::reserve, or the OS error when no shared memory
  /// object can be created or mapped executable (errc::unsupported when every
  /// kind was refused).
  [[nodiscard]] static result<dual_mapped_reservation> reserve(std::size_t bytes, std::uintptr_t hint = 0,
                                                               std::size_t alignment = 0) noexcept {
    auto executable = reservation::reserve(bytes, hint, alignment);
    if (!executable) return forward_error(executable);
    const std::size_t size = executable->region().size();
    auto writable = reservation::reserve(size);
    if (!writable) return forward_error(writable);
    const int fd = detail::create_shared_memory(size);
    if (fd < 0) return failure{errc::unsupported};
    dual_mapped_reservation dual{std::move(*executable), std::move(*writable), fd};
    if (auto ok = detail::map_view(dual.executable_.region().begin(), size, fd); !ok) return failure{ok.error()};
    if (auto ok = detail::map_view(dual.writable_.region().begin(), size, fd); !ok) return failure{ok.error()};
    return dual;
  }

  dual_mapped_reservation(dual_mapped_reservation&& other) noexcept
      : executable_{std::move(other.executable_)},
        writable_{std::move(other.writable_)},
        fd_{std::exchange(other.fd_, -1)} {}
  dual_mapped_reservation& operator=(dual_mapped_reservation&& other) noexcept {
    if (this != &other) {
      (void)release();
      executable_ = std::move(other.executable_);
      writable_ = std::move(other.writable_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  dual_mapped_reservation(const dual_mapped_reservation&) = delete;
  dual_mapped_reservation& operator=(const dual_mapped_reservation&) = delete;
  ~dual_mapped_reservation() { (void)release(); }

  /// The addresses code runs at.
  [[nodiscard]] address_region executable() const noexcept { return executable_.region(); }
  /// The addresses code is written at.
  [[nodiscard]] address_region writable() const noexcept { return writable_.region(); }
  [[nodiscard]] std::uintptr_t write_offset() const noexcept {
    return writable_.region().begin() - executable_.region().begin();
  }

  /// Commits `part` (executable addresses) with access `executable_access`
  /// in the executable view and read-write in the writable view.
  [[nodiscard]] result<void> commit(address_region part, access executable_access = access::read_execute) const noexcept {
    if (auto ok = executable_.commit(part, executable_access); !ok) return ok;
    if (auto ok = writable_.commit(shifted(part), access::read_write); !ok) {
      (void)executable_.protect(part, access::none);
      return ok;
    }
    return {};
  }

  /// Frees the memory of `part` (executable addresses) and makes both views
  /// of it inaccessible; the range stays reserved and reads as zero once
  /// committed again.
  [[nodiscard]] result<void> decommit(address_region part) const noexcept {
    if (auto ok = executable_.protect(part, access::none); !ok) return ok;
    if (auto ok = writable_.protect(shifted(part), access::none); !ok) return ok;
    const auto offset = static_cast<off_t>(part.begin() - executable_.region().begin());
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, static_cast<off_t>(part.size())) != 0) {
      return system_failure(errno);
    }
    return {};
  }

  /// Errors: already_released on a second call.
  result<void> release() noexcept {
    if (fd_ < 0) return failure{errc::already_released};
    (void)executable_.release();
    (void)writable_.release();
    ::close(std::exchange(fd_, -1));
    return {};
  }

 private:
  dual_mapped_reservation(reservation executable, reservation writable, int fd) noexcept
      : executable_{std::move(executable)}, writable_{std::move(writable)}, fd_{fd} {}

  [[nodiscard]] address_region shifted(address_region part) const noexcept {
    return {part.begin() + write_offset(), part.size()};
  }

  reservation executable_;
  reservation writable_;
  int fd_ = -1;
};

#endif  // JITCM_HAS_DUAL_MAPPING

}  // namespace jitcm::platform
