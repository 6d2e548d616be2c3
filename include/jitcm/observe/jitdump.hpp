// observe::jitdump: the jitdump file `perf inject --jit` turns into ELF
// images, so `perf report` and `perf annotate` show JIT code by name, with
// its bytes and (when the JIT gives a file/line mapping) its source lines.
//
// | expression                        | result                        | guarantees |
// |-----------------------------------|-------------------------------|------------|
// | `jitdump::open(options)`          | `result<unique_ptr<jitdump>>` | <directory>/jit-<pid>.dump created with its header, its first page mapped executable (the marker perf looks for) |
// | `manager.add_observer(*dump)`     | —                             | per published code: UNWINDING_INFO (if it has unwind info), DEBUG_INFO (if a source_lines mapping is set and it has source positions), then CODE_LOAD with its bytes; CODE_LOAD per jump_table_slot |
// | `on_code_moved(c, from)`          | —                             | a CODE_MOVE record |
// | `dump->flush()`                   | `result<void>`                | buffered records are in the file |
// | destructor                        | —                             | a CODE_CLOSE record, everything written |
//
// Record layout: perf's tools/perf/Documentation/jitdump-specification.txt
// (version 1). Timestamps are CLOCK_MONOTONIC, what `perf record -k 1` uses.
// Records are buffered and written once per publish batch.
//
//   jitcm::observe::source_lines lines{&my_file_and_line, my_context};
//   auto dump = jitcm::observe::jitdump::open({.lines = lines});
//   if (dump) manager.add_observer(**dump);
//   // perf record -k 1 -e cpu-clock ./jit && perf inject --jit -i perf.data -o perf.jit.data
//   // perf report -i perf.jit.data
//
// Thread safety: every member from any thread (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "../code_observer.hpp"
#include "../base/config.hpp"
#include "../platform/tool_files.hpp"
#include "../base/result.hpp"
#include "detail/byte_buffer.hpp"
#include "detail/elf_image.hpp"

namespace jitcm::observe {

/// A source line: what DEBUG_INFO records carry.
struct source_line {
  std::string_view file{};  ///< empty: no line for this position
  std::int32_t line = 0;
};

/// The JIT's mapping from a code object's source offsets
/// (source_position::source_offset) to file and line; called under the
/// writer's lock, must not call back into jitcm.
struct source_lines {
  source_line (*function)(void* context, const code& c, std::uint32_t source_offset) noexcept = nullptr;
  void* context = nullptr;
};

/// The jitdump format's constants (jitdump-specification.txt).
namespace jitdump_format {
inline constexpr std::uint32_t magic = 0x4A695444;  // "JiTD" as a native-endian word
inline constexpr std::uint32_t version = 1;
inline constexpr std::uint32_t header_size = 40;
inline constexpr std::uint32_t record_header_size = 16;
enum record_id : std::uint32_t {
  code_load = 0,
  code_move = 1,
  code_debug_info = 2,
  code_close = 3,
  code_unwinding_info = 4
};
/// e_machine of the host (EM_X86_64, EM_AARCH64, EM_RISCV).
inline constexpr std::uint32_t host_machine = detail::elf_host_machine;
}  // namespace jitdump_format

struct jitdump_options {
  /// Where the dump goes; empty: $JITDUMPDIR if set, else /tmp. perf inject
  /// writes its ELF images next to it, so it must be writable.
  std::string directory{};
  source_lines lines{};
};

class jitdump final : public code_observer {
 public:
  /// Creates <directory>/jit-<pid>.dump, writes the header and maps the
  /// marker. Errors: the OS's.
  [[nodiscard]] static result<std::unique_ptr<jitdump>> open(const jitdump_options& options = {});

  jitdump(const jitdump&) = delete;
  jitdump& operator=(const jitdump&) = delete;
  ~jitdump();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] result<void> flush();

  JITCM_DECL void on_code_added(const code& c) noexcept override;
  void on_code_freed(const code&) noexcept override {}
  JITCM_DECL void on_code_moved(const code& c, address_region from) noexcept override;
  JITCM_DECL void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override;
  JITCM_DECL void on_batch_end() noexcept override;

 private:
  jitdump(platform::tool_file file, std::string path, source_lines lines) noexcept
      : file_{std::move(file)}, path_{std::move(path)}, lines_{lines} {}

  void write_header();
  void begin_record(jitdump_format::record_id id, std::size_t total_size);
  void write_code_load(address_region where, std::string_view name);
  void write_debug_info(const code& c);
  /// The code's unwind info as an .eh_frame section (absolute locations)
  /// followed by an .eh_frame_hdr whose table indexes it, as perf's ELF
  /// writer expects the two.
  void write_unwinding_info(const code& c);
  [[nodiscard]] result<void> flush_locked();

  std::mutex mutex_;
  platform::tool_file file_;
  std::string path_;
  source_lines lines_;
  detail::byte_buffer buffer_;
  std::uint64_t code_index_ = 0;
};

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/jitdump.ipp"  // IWYU pragma: export
#endif
