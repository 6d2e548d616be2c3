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
#include <new>
#include <span>
#include <string>
#include <string_view>

#include "../detail/assert.hpp"
#include "../base/code.hpp"
#include "../code_observer.hpp"
#include "../base/config.hpp"
#include "../platform/tool_files.hpp"
#include "../base/result.hpp"
#include "detail/byte_buffer.hpp"
#include "detail/elf_image.hpp"
#include "detail/names.hpp"
#include "eh_frame.hpp"

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
enum record_id : std::uint32_t { code_load = 0, code_move = 1, code_debug_info = 2, code_close = 3, code_unwinding_info = 4 };
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
  [[nodiscard]] static result<std::unique_ptr<jitdump>> open(const jitdump_options& options = {}) {
    std::string directory = options.directory;
    if (directory.empty()) {
      const char* from_environment = platform::environment_variable("JITDUMPDIR");
      directory = from_environment != nullptr && *from_environment != 0 ? from_environment : "/tmp";
    }
    std::string path = directory + "/jit-" + std::to_string(platform::process_id()) + ".dump";
    auto file = platform::tool_file::create(path);
    if (!file) return forward_error(file);
    std::unique_ptr<jitdump> dump{new (std::nothrow) jitdump{std::move(*file), std::move(path), options.lines}};
    if (!dump) return failure{errc::out_of_memory};
    dump->write_header();
    if (auto flushed = dump->flush(); !flushed) return forward_error(flushed);
    if (auto mapped = dump->file_.map_marker(); !mapped) return forward_error(mapped);
    return dump;
  }

  jitdump(const jitdump&) = delete;
  jitdump& operator=(const jitdump&) = delete;
  ~jitdump() {
    std::lock_guard lock{mutex_};
    begin_record(jitdump_format::code_close, jitdump_format::record_header_size);
    JITCM_ASSERT_CLEANUP(flush_locked());
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] result<void> flush() {
    std::lock_guard lock{mutex_};
    return flush_locked();
  }

  void on_code_added(const code& c) noexcept override {
    std::lock_guard lock{mutex_};
    if (!c.unwind_info().empty()) write_unwinding_info(c);
    if (lines_.function != nullptr && !c.source_positions().empty()) write_debug_info(c);
    write_code_load(c.instructions(), detail::display_name(c));
  }
  void on_code_freed(const code&) noexcept override {}
  void on_code_moved(const code& c, address_region from) noexcept override {
    std::lock_guard lock{mutex_};
    begin_record(jitdump_format::code_move, jitdump_format::record_header_size + 48);
    buffer_.put(platform::process_id());
    buffer_.put(platform::thread_id());
    buffer_.put(std::uint64_t{c.instruction_start()});  // vma
    buffer_.put(std::uint64_t{from.begin()});
    buffer_.put(std::uint64_t{c.instruction_start()});
    buffer_.put(std::uint64_t{c.instructions_size()});
    buffer_.put(code_index_++);
  }
  void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override {
    std::lock_guard lock{mutex_};
    for (const jump_table_slot& s : slots) write_code_load(s.instructions, slot_name{s}.view());
  }
  void on_batch_end() noexcept override { JITCM_ASSERT_CLEANUP(flush()); }

 private:
  jitdump(platform::tool_file file, std::string path, source_lines lines) noexcept
      : file_{std::move(file)}, path_{std::move(path)}, lines_{lines} {}

  void write_header() {
    buffer_.put(jitdump_format::magic);
    buffer_.put(jitdump_format::version);
    buffer_.put(jitdump_format::header_size);
    buffer_.put(jitdump_format::host_machine);
    buffer_.put(std::uint32_t{0});  // pad
    buffer_.put(platform::process_id());
    buffer_.put(platform::monotonic_nanoseconds());
    buffer_.put(std::uint64_t{0});  // flags: timestamps are CLOCK_MONOTONIC, not the CPU's counter
  }
  void begin_record(jitdump_format::record_id id, std::size_t total_size) {
    buffer_.put(static_cast<std::uint32_t>(id));
    buffer_.put(static_cast<std::uint32_t>(total_size));
    buffer_.put(platform::monotonic_nanoseconds());
  }
  void write_code_load(address_region where, std::string_view name) {
    begin_record(jitdump_format::code_load, jitdump_format::record_header_size + 40 + name.size() + 1 + where.size());
    buffer_.put(platform::process_id());
    buffer_.put(platform::thread_id());
    buffer_.put(std::uint64_t{where.begin()});  // vma
    buffer_.put(std::uint64_t{where.begin()});  // code address
    buffer_.put(std::uint64_t{where.size()});
    buffer_.put(code_index_++);
    buffer_.put_string(name);
    // The executable view: readable, and under dual mapping the same bytes
    // as the writable alias.
    buffer_.put_bytes({reinterpret_cast<const std::byte*>(where.begin()), where.size()});
  }
  void write_debug_info(const code& c) {
    const std::size_t start = buffer_.size();
    begin_record(jitdump_format::code_debug_info, 0);
    buffer_.put(std::uint64_t{c.instruction_start()});
    const std::size_t count_at = buffer_.size();
    buffer_.put(std::uint64_t{0});
    std::uint64_t entries = 0;
    for (const source_position& position : c.source_positions()) {
      const source_line line = lines_.function(lines_.context, c, position.source_offset);
      if (line.file.empty()) continue;
      buffer_.put(std::uint64_t{c.instruction_start() + position.code_offset});
      buffer_.put(line.line);
      buffer_.put(std::int32_t{0});  // discriminator
      buffer_.put_string(line.file);
      ++entries;
    }
    buffer_.pad_to(8);
    buffer_.patch(count_at, entries);
    buffer_.patch(start + 4, static_cast<std::uint32_t>(buffer_.size() - start));
  }
  /// The code's unwind info as an .eh_frame section (absolute locations)
  /// followed by an .eh_frame_hdr whose table indexes it, as perf's ELF
  /// writer expects the two.
  void write_unwinding_info(const code& c) {
    auto section = eh_frame::rebase(c.unwind_info(), c.instruction_start());
    auto fdes = eh_frame::parse(c.unwind_info());
    if (!section || !fdes) return;
    detail::byte_buffer header;
    header.put(std::uint8_t{1});     // version
    header.put(std::uint8_t{0x1b});  // eh_frame_ptr: pcrel sdata4
    header.put(std::uint8_t{0x03});  // fde_count: udata4
    header.put(std::uint8_t{0x3b});  // table: datarel sdata4
    header.put(static_cast<std::int32_t>(-static_cast<std::int64_t>(section->size() + 4)));
    header.put(static_cast<std::uint32_t>(fdes->size()));
    const auto header_start = static_cast<std::int64_t>(section->size());
    for (const eh_frame::fde& f : *fdes) {
      // Relative to the header, with the section laid out just before it
      // and the code at the start of the section's address space.
      header.put(static_cast<std::int32_t>(static_cast<std::int64_t>(f.location) - header_start));
      header.put(static_cast<std::int32_t>(static_cast<std::int64_t>(f.location_offset - 8) - header_start));
    }
    const std::size_t payload = section->size() + header.size();
    const std::size_t start = buffer_.size();
    begin_record(jitdump_format::code_unwinding_info, 0);
    buffer_.put(std::uint64_t{payload});        // unwinding_size
    buffer_.put(std::uint64_t{header.size()});  // eh_frame_hdr_size
    buffer_.put(std::uint64_t{0});              // mapped_size: not mapped next to the code
    buffer_.put_bytes(*section);
    buffer_.put_bytes(header.bytes());
    buffer_.pad_to(8);
    buffer_.patch(start + 4, static_cast<std::uint32_t>(buffer_.size() - start));
  }
  [[nodiscard]] result<void> flush_locked() {
    if (buffer_.empty()) return {};
    if (auto written = file_.write_all(buffer_.bytes()); !written) return written;
    buffer_.clear();
    return {};
  }

  std::mutex mutex_;
  platform::tool_file file_;
  std::string path_;
  source_lines lines_;
  detail::byte_buffer buffer_;
  std::uint64_t code_index_ = 0;
};

}  // namespace jitcm::observe
