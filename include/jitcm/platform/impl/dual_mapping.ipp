// Definitions of <jitcm/platform/dual_mapping.hpp> (see observe/impl/environment.ipp).
#pragma once

#include "../dual_mapping.hpp"

#if defined(JITCM_HAS_DUAL_MAPPING) && defined(JITCM_OS_LINUX)

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jitcm::platform {

namespace detail {

/// Whether `error` says a kind of shared memory is missing or forbidden
/// here, so that the next kind is worth trying. Anything else (EMFILE,
/// ENFILE, ENOMEM, ENOSPC...) is a resource running out, which every kind
/// would meet: that error is reported as it is.
[[nodiscard]] inline bool kind_unavailable(std::error_code error) noexcept {
  if (error.category() != std::system_category()) return false;
  switch (error.value()) {
    case ENOSYS:
    case EINVAL:
    case EACCES:
    case EPERM:
    case EOPNOTSUPP:
    case ENOENT:
    case ENOTDIR:
    case EROFS:
      return true;
    default:
      return false;
  }
}

[[nodiscard]] inline std::error_code last_errno() noexcept { return {errno, std::system_category()}; }

/// Opens shared memory of kind `kind`: 0 is memfd_create, then unlinked files
/// in /dev/shm, $TMPDIR and /tmp. -1 with errno set when it cannot.
[[nodiscard]] inline int open_shared_memory(int kind) noexcept {
  if (kind == 0) {
#if defined(MFD_CLOEXEC)
    unsigned flags = MFD_CLOEXEC;
#if defined(MFD_EXEC)
    flags |= MFD_EXEC;
#endif
    int fd = ::memfd_create("jitcm-code", flags);
#if defined(MFD_EXEC)
    if (fd < 0 && errno == EINVAL) fd = ::memfd_create("jitcm-code", MFD_CLOEXEC);
#endif
    return fd;
#else
    errno = ENOSYS;
    return -1;
#endif
  }
  const char* directory = kind == 1 ? "/dev/shm" : kind == 2 ? std::getenv("TMPDIR") : "/tmp";
  if (directory == nullptr) {
    errno = ENOENT;
    return -1;
  }
  char path[256];
  std::snprintf(path, sizeof path, "%s/jitcm-code-XXXXXX", directory);
  const int fd = ::mkostemp(path, O_CLOEXEC);
  if (fd >= 0) ::unlink(path);
  return fd;
}

/// Sizes `fd` and checks that it may be mapped executable: a noexec policy
/// (vm.memfd_noexec, noexec mounts) shows up only at mmap time.
[[nodiscard]] inline std::error_code prepare_shared_memory(int fd, std::size_t size) noexcept {
  if (std::error_code refused = injected_fault(fault_point::resize_shared_memory)) return refused;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return last_errno();
  if (std::error_code refused = injected_fault(fault_point::map_shared_memory)) return refused;
  void* probe = ::mmap(nullptr, page_size(), PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
  if (probe == MAP_FAILED) return last_errno();
  ::munmap(probe, page_size());
  return {};
}

/// Creates an unnamed shared memory object of `size` bytes that may be
/// mapped executable: a memfd, or where memfds are missing or may not
/// execute, an unlinked file in /dev/shm, $TMPDIR or /tmp.
/// Errors: the OS error when a resource ran out (EMFILE: one descriptor per
/// dual-mapped space; ENOMEM, ENOSPC...); errc::unsupported when no kind of
/// executable shared memory exists or is allowed here.
[[nodiscard]] inline result<int> create_shared_memory(std::size_t size) noexcept {
  constexpr int kinds = 4;
  for (int kind = 0; kind < kinds; ++kind) {
    std::error_code error = injected_fault(fault_point::create_shared_memory);
    if (!error) {
      const int fd = open_shared_memory(kind);
      if (fd < 0) {
        error = last_errno();
      } else {
        error = prepare_shared_memory(fd, size);
        if (!error) return fd;
        ::close(fd);
      }
    }
    if (!kind_unavailable(error)) return failure{error};
  }
  return failure{errc::unsupported};
}

/// Maps `size` bytes of `fd` over the reserved range at `at`, inaccessible
/// until committed.
[[nodiscard]] inline result<void> map_view(std::uintptr_t at, std::size_t size, int fd) noexcept {
  if (std::error_code refused = injected_fault(fault_point::map_shared_memory, {at, size})) return failure{refused};
  void* p = ::mmap(reinterpret_cast<void*>(at), size, PROT_NONE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) return system_failure(errno);
  return {};
}

/// Keeps a child created by fork() from inheriting the view at `at`: the
/// child sees no mapping there (the advice lives with the mapping, and
/// commit and protection changes keep it).
[[nodiscard]] inline result<void> exclude_from_fork(std::uintptr_t at, std::size_t size) noexcept {
  if (::madvise(reinterpret_cast<void*>(at), size, MADV_DONTFORK) != 0) return system_failure(errno);
  return {};
}

}  // namespace detail

JITCM_DECL pid_t dual_mapped_reservation::this_process() noexcept { return ::getpid(); }

JITCM_DECL result<dual_mapped_reservation> dual_mapped_reservation::reserve(std::size_t bytes, std::uintptr_t hint,
                                                                            std::size_t alignment) noexcept {
  auto executable = reservation::reserve(bytes, hint, alignment);
  if (!executable) return forward_error(executable);
  const std::size_t size = executable->region().size();
  auto writable = reservation::reserve(size);
  if (!writable) return forward_error(writable);
  const auto fd = detail::create_shared_memory(size);
  if (!fd) return forward_error(fd);
  dual_mapped_reservation dual{std::move(*executable), std::move(*writable), *fd};
  if (auto ok = detail::map_view(dual.executable_.region().begin(), size, *fd); !ok) return failure{ok.error()};
  if (auto ok = detail::map_view(dual.writable_.region().begin(), size, *fd); !ok) return failure{ok.error()};
  if (auto ok = detail::exclude_from_fork(dual.writable_.region().begin(), size); !ok) return failure{ok.error()};
  return dual;
}

JITCM_DECL result<void> dual_mapped_reservation::commit(address_region part, access executable_access) const noexcept {
  if (!owned_by_this_process()) return failure{errc::not_owned};
  if (auto ok = executable_.commit(part, executable_access); !ok) return ok;
  if (auto ok = writable_.commit(shifted(part), access::read_write); !ok) {
    (void)executable_.protect(part, access::none);
    return ok;
  }
  return {};
}

JITCM_DECL result<void> dual_mapped_reservation::decommit(address_region part) const noexcept {
  if (!owned_by_this_process()) return failure{errc::not_owned};
  if (part.empty()) return failure{errc::invalid_argument};
  if (!is_page_aligned(part)) return failure{errc::misaligned};
  if (!executable().contains(part)) return failure{errc::out_of_range};
  if (auto ok = punch_hole(part); !ok) return ok;
  if (auto ok = writable_.protect(shifted(part), access::none); !ok) return ok;
  if (auto ok = executable_.protect(part, access::none); !ok) {
    (void)writable_.protect(shifted(part), access::read_write);
    return ok;
  }
  return {};
}

JITCM_DECL result<void> dual_mapped_reservation::unmap() noexcept {
  if (fd_ < 0) return failure{errc::already_unmapped};
  result<void> outcome = executable_.unmap();
  if (auto ok = writable_.unmap(); !ok && outcome) outcome = ok;
  ::close(std::exchange(fd_, -1));
  return outcome;
}

JITCM_DECL result<void> dual_mapped_reservation::punch_hole(address_region part) const noexcept {
  if (std::error_code refused = detail::injected_fault(fault_point::decommit, part)) return failure{refused};
  const auto offset = static_cast<off_t>(part.begin() - executable_.region().begin());
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, static_cast<off_t>(part.size())) != 0) {
    return system_failure(errno);
  }
  return {};
}

}  // namespace jitcm::platform

#endif  // JITCM_HAS_DUAL_MAPPING && JITCM_OS_LINUX
