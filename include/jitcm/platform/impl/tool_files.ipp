// Definitions of <jitcm/platform/tool_files.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "../tool_files.hpp"

#if !defined(JITCM_OS_WINDOWS)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(JITCM_OS_LINUX)
#include <sys/syscall.h>
#endif
#endif

namespace jitcm::platform {

JITCM_DECL std::uint32_t process_id() noexcept {
#if defined(JITCM_OS_WINDOWS)
  return 0;
#else
  return static_cast<std::uint32_t>(::getpid());
#endif
}

JITCM_DECL std::uint32_t thread_id() noexcept {
#if defined(JITCM_OS_LINUX)
  return static_cast<std::uint32_t>(::syscall(SYS_gettid));
#else
  return process_id();
#endif
}

JITCM_DECL std::uint64_t monotonic_nanoseconds() noexcept {
#if defined(JITCM_OS_WINDOWS)
  return 0;
#else
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
#endif
}

JITCM_DECL const char* environment_variable(const char* name) noexcept { return std::getenv(name); }

JITCM_DECL tool_file::tool_file(tool_file&& other) noexcept
    : descriptor_{std::exchange(other.descriptor_, -1)},
      marker_{std::exchange(other.marker_, nullptr)},
      marker_size_{other.marker_size_} {}

JITCM_DECL tool_file& tool_file::operator=(tool_file&& other) noexcept {
  if (this != &other) {
    close();
    descriptor_ = std::exchange(other.descriptor_, -1);
    marker_ = std::exchange(other.marker_, nullptr);
    marker_size_ = other.marker_size_;
  }
  return *this;
}

JITCM_DECL result<tool_file> tool_file::open_append(const std::string& path) noexcept { return open(path, true); }

JITCM_DECL result<tool_file> tool_file::create(const std::string& path) noexcept { return open(path, false); }

JITCM_DECL result<void> tool_file::write_all(std::span<const std::byte> bytes) noexcept {
#if defined(JITCM_OS_WINDOWS)
  (void)bytes;
  return failure{errc::unsupported};
#else
  if (descriptor_ < 0) return failure{errc::invalid_argument};
  while (!bytes.empty()) {
    const ::ssize_t written = ::write(descriptor_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return system_failure(errno);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
  return {};
#endif
}

JITCM_DECL result<void> tool_file::map_marker() noexcept {
#if defined(JITCM_OS_WINDOWS)
  return failure{errc::unsupported};
#else
  if (descriptor_ < 0) return failure{errc::invalid_argument};
  const long page = ::sysconf(_SC_PAGESIZE);
  void* mapped = ::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_EXEC, MAP_PRIVATE, descriptor_, 0);
  if (mapped == MAP_FAILED) return system_failure(errno);
  marker_ = mapped;
  marker_size_ = static_cast<std::size_t>(page);
  return {};
#endif
}

JITCM_DECL void tool_file::close() noexcept {
#if !defined(JITCM_OS_WINDOWS)
  if (marker_ != nullptr) ::munmap(marker_, marker_size_);
  if (descriptor_ >= 0) ::close(descriptor_);
#endif
  marker_ = nullptr;
  descriptor_ = -1;
}

// Appending (perf maps, mode 0644, created if missing) or created afresh
// (jitdumps: readable too, since the marker maps the file).
JITCM_DECL result<tool_file> tool_file::open([[maybe_unused]] const std::string& path,
                                             [[maybe_unused]] bool append) noexcept {
#if defined(JITCM_OS_WINDOWS)
  return failure{errc::unsupported};
#else
  const int flags = append ? O_WRONLY | O_CREAT | O_APPEND : O_RDWR | O_CREAT | O_TRUNC;
  tool_file file;
  file.descriptor_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (file.descriptor_ < 0) return system_failure(errno);
  return file;
#endif
}

}  // namespace jitcm::platform
