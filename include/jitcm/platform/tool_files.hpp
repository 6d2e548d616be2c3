// What the tool integrations (jitcm::observe) need from the OS: append-only
// files for perf maps and jitdumps, the jitdump's marker mapping, process and
// thread ids, the monotonic clock perf samples with, and the environment.
// Linux (and other POSIX systems) run this; elsewhere every call fails with
// errc::unsupported.
//
// Thread safety: the free functions may be called from any thread. A
// tool_file is used by one thread at a time (its owner serialises writes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../base/config.hpp"
#include "../base/result.hpp"

// The definitions, and the OS headers they need, are in impl/tool_files.ipp:
// compiled once under separate compilation.

namespace jitcm::platform {

/// This process's id.
[[nodiscard]] std::uint32_t process_id() noexcept;

/// The calling thread's kernel id (what perf reports as tid).
[[nodiscard]] std::uint32_t thread_id() noexcept;

/// CLOCK_MONOTONIC in nanoseconds: the clock of `perf record -k 1`.
[[nodiscard]] std::uint64_t monotonic_nanoseconds() noexcept;

/// The value of environment variable `name`, or nullptr. Not safe against a
/// concurrent setenv (nothing is).
[[nodiscard]] const char* environment_variable(const char* name) noexcept;

/// A file a tool reads after (or while) the process runs: opened for
/// appending or created afresh, written whole buffers at a time, optionally
/// mapped once executable so that `perf record` logs where it lies (the
/// jitdump marker). Closed (and unmapped) by the destructor.
class tool_file {
 public:
  tool_file() noexcept = default;
  tool_file(tool_file&& other) noexcept;
  tool_file& operator=(tool_file&& other) noexcept;
  tool_file(const tool_file&) = delete;
  tool_file& operator=(const tool_file&) = delete;
  ~tool_file() { close(); }

  /// Opens `path` for appending, creating it (mode 0644) if missing.
  [[nodiscard]] static result<tool_file> open_append(const std::string& path) noexcept;
  /// Creates `path` empty (replacing what was there), readable and writable.
  [[nodiscard]] static result<tool_file> create(const std::string& path) noexcept;

  [[nodiscard]] bool is_open() const noexcept { return descriptor_ >= 0; }

  /// Writes every byte of `bytes` (retrying short writes). Errors: the OS's.
  [[nodiscard]] result<void> write_all(std::span<const std::byte> bytes) noexcept;

  /// Maps the file's first page readable and executable, as perf's jitdump
  /// convention asks: the mapping is the marker `perf inject --jit` finds
  /// in the recorded MMAP events. The file must already hold a page's worth
  /// of offset (the mapping may extend beyond its end). Errors: the OS's.
  [[nodiscard]] result<void> map_marker() noexcept;

  void close() noexcept;

 private:
  [[nodiscard]] static result<tool_file> open(const std::string& path, bool append) noexcept;

  int descriptor_ = -1;
  void* marker_ = nullptr;
  std::size_t marker_size_ = 0;
};

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/tool_files.ipp"  // IWYU pragma: export
#endif
