// observe::perf_map: the symbol file `perf report` reads for JIT code,
// /tmp/perf-<pid>.map, one `START SIZE name` line (hex, no 0x) per code object
// and per jump slot and lazy-compile slot.
//
// | expression                  | result                          | guarantees |
// |-----------------------------|---------------------------------|------------|
// | `perf_map::open()`          | `result<unique_ptr<perf_map>>`  | appends to /tmp/perf-<pid>.map (created if missing) |
// | `perf_map::open(path)`      | the same                        | appends to `path` |
// | `manager.add_observer(*map)`| —                               | a line per published code and per jump_table_slot, executable addresses |
// | `map->flush()`              | `result<void>`                  | buffered lines are in the file |
// | `map->lines_written()`      | `size_t`                        | lines handed to the OS so far |
//
// Lines are buffered and written in one write per publish batch (on_batch_end),
// when the buffer passes 64 KiB, by flush() and by the destructor; perf reads
// the file when the report is made, after the process ends, so nothing is
// lost by waiting for the batch. Freed code keeps its line (the format has
// no removal; perf takes the newest line for an address).
//
//   auto map = jitcm::observe::perf_map::open();
//   if (map) manager.add_observer(**map);
//   ... run the JIT under `perf record -e cpu-clock` ... then `perf report`
//
// Thread safety: every member from any thread (one mutex); one perf_map may
// observe several managers.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "../base/config.hpp"
#include "../code_observer.hpp"
#include "../platform/tool_files.hpp"
#include "../base/result.hpp"
#include "detail/byte_buffer.hpp"

namespace jitcm::observe {

class perf_map final : public code_observer {
 public:
  /// The path perf looks at for this process: /tmp/perf-<pid>.map.
  [[nodiscard]] static std::string default_path();

  /// Opens the process's perf map for appending. Errors: the OS's.
  [[nodiscard]] static result<std::unique_ptr<perf_map>> open();
  [[nodiscard]] static result<std::unique_ptr<perf_map>> open(const std::string& path);

  perf_map(const perf_map&) = delete;
  perf_map& operator=(const perf_map&) = delete;
  ~perf_map();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// Writes the buffered lines. Errors: the OS's (the lines stay buffered).
  [[nodiscard]] result<void> flush();
  [[nodiscard]] std::size_t lines_written() const;

  JITCM_DECL void on_code_added(const code& c) noexcept override;
  void on_code_freed(const code&) noexcept override {}
  JITCM_DECL void on_code_moved(const code& c, address_region) noexcept override;
  JITCM_DECL void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override;
  JITCM_DECL void on_batch_end() noexcept override;

 private:
  static constexpr std::size_t flush_threshold = 64 * 1024;

  perf_map(platform::tool_file file, std::string path) noexcept : file_{std::move(file)}, path_{std::move(path)} {}

  void append(address_region where, std::string_view name) noexcept;
  void append_locked(address_region where, std::string_view name) noexcept;
  [[nodiscard]] result<void> flush_locked();

  mutable std::mutex mutex_;
  platform::tool_file file_;
  std::string path_;
  detail::byte_buffer buffer_;
  std::size_t lines_buffered_ = 0;
  std::size_t lines_written_ = 0;
};

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/perf_map.ipp"  // IWYU pragma: export
#endif
