// What the tool integrations (jitcm::observe) need from the OS: append-only
// files for perf maps and jitdumps, the jitdump's marker mapping, process and
// thread ids, the monotonic clock perf samples with, and the environment.
// Linux (and other POSIX systems) run this; elsewhere every call fails with
// errc::unsupported.
//
// Thread safety: the free functions may be called from any thread. A
// tool_file is used by one thread at a time (its owner serialises writes).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>

#include "../base/config.hpp"
#include "../base/result.hpp"

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

/// This process's id.
[[nodiscard]] inline std::uint32_t process_id() noexcept {
#if defined(JITCM_OS_WINDOWS)
  return 0;
#else
  return static_cast<std::uint32_t>(::getpid());
#endif
}

/// The calling thread's kernel id (what perf reports as tid).
[[nodiscard]] inline std::uint32_t thread_id() noexcept {
#if defined(JITCM_OS_LINUX)
  return static_cast<std::uint32_t>(::syscall(SYS_gettid));
#else
  return process_id();
#endif
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `perf record -k 1`.
[[nodiscard]] inline std::uint64_t monotonic_nanoseconds() noexcept {
#if defined(JITCM_OS_WINDOWS)
  return 0;
#else
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
#endif
}

/// The value of environment variable `name`, or nullptr. Not safe against a
/// concurrent setenv (nothing is).
[[nodiscard]] inline const char* environment_variable(const char* name) noexcept { return std::getenv(name); }

/// A file a tool reads after (or while) the process runs: opened for
/// appending or created afresh, written whole buffers at a time, optionally
/// mapped once executable so that `perf record` logs where it lies (the
/// jitdump marker). Closed (and unmapped) by the destructor.
class tool_file {
 public:
  tool_file() noexcept = default;
  tool_file(tool_file&& other) noexcept
      : descriptor_{std::exchange(other.descriptor_, -1)},
        marker_{std::exchange(other.marker_, nullptr)},
        marker_size_{other.marker_size_} {}
  tool_file& operator=(tool_file&& other) noexcept {
    if (this != &other) {
      close();
      descriptor_ = std::exchange(other.descriptor_, -1);
      marker_ = std::exchange(other.marker_, nullptr);
      marker_size_ = other.marker_size_;
    }
    return *this;
  }
  tool_file(const tool_file&) = delete;
  tool_file& operator=(const tool_file&) = delete;
  ~tool_file() { close(); }

  /// Opens `path` for appending, creating it (mode 0644) if missing.
  [[nodiscard]] static result<tool_file> open_append(const std::string& path) noexcept {
    return open(path, append_flags);
  }
  /// Creates `path` empty (replacing what was there), readable and writable.
  [[nodiscard]] static result<tool_file> create(const std::string& path) noexcept { return open(path, create_flags); }

  [[nodiscard]] bool is_open() const noexcept { return descriptor_ >= 0; }

  /// Writes every byte of `bytes` (retrying short writes). Errors: the OS's.
  [[nodiscard]] result<void> write_all(std::span<const std::byte> bytes) noexcept {
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

  /// Maps the file's first page readable and executable, as perf's jitdump
  /// convention asks: the mapping is the marker `perf inject --jit` finds
  /// in the recorded MMAP events. The file must already hold a page's worth
  /// of offset (the mapping may extend beyond its end). Errors: the OS's.
  [[nodiscard]] result<void> map_marker() noexcept {
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

  void close() noexcept {
#if !defined(JITCM_OS_WINDOWS)
    if (marker_ != nullptr) ::munmap(marker_, marker_size_);
    if (descriptor_ >= 0) ::close(descriptor_);
#endif
    marker_ = nullptr;
    descriptor_ = -1;
  }

 private:
  [[nodiscard]] static result<tool_file> open([[maybe_unused]] const std::string& path,
                                              [[maybe_unused]] int flags) noexcept {
#if defined(JITCM_OS_WINDOWS)
    return failure{errc::unsupported};
#else
    tool_file file;
    file.descriptor_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (file.descriptor_ < 0) return system_failure(errno);
    return file;
#endif
  }

#if defined(JITCM_OS_WINDOWS)
  static constexpr int append_flags = 0, create_flags = 0;
#else
  static constexpr int append_flags = O_WRONLY | O_CREAT | O_APPEND;
  static constexpr int create_flags = O_RDWR | O_CREAT | O_TRUNC;
#endif

  int descriptor_ = -1;
  void* marker_ = nullptr;
  std::size_t marker_size_ = 0;
};

}  // namespace jitcm::platform
