// Definitions of <jitcm/observe/jitdump.hpp> (see environment.ipp).
#pragma once

#include <new>
#include <string>

#include "../../base/code.hpp"
#include "../../detail/assert.hpp"
#include "../detail/names.hpp"
#include "../eh_frame.hpp"
#include "../jitdump.hpp"

namespace jitcm::observe {

JITCM_DECL result<std::unique_ptr<jitdump>> jitdump::open(const jitdump_options& options) {
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

JITCM_DECL jitdump::~jitdump() {
  std::lock_guard lock{mutex_};
  begin_record(jitdump_format::code_close, jitdump_format::record_header_size);
  JITCM_ASSERT_CLEANUP(flush_locked());
}

JITCM_DECL result<void> jitdump::flush() {
  std::lock_guard lock{mutex_};
  return flush_locked();
}

JITCM_DECL void jitdump::on_code_added(const code& c) noexcept {
  std::lock_guard lock{mutex_};
  if (!c.unwind_info().empty()) write_unwinding_info(c);
  if (lines_.function != nullptr && !c.source_positions().empty()) write_debug_info(c);
  write_code_load(c.instructions(), detail::display_name(c));
}

JITCM_DECL void jitdump::on_code_moved(const code& c, address_region from) noexcept {
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

JITCM_DECL void jitdump::on_jump_table_added(std::span<const jump_table_slot> slots) noexcept {
  std::lock_guard lock{mutex_};
  for (const jump_table_slot& s : slots) write_code_load(s.instructions, slot_name{s}.view());
}

JITCM_DECL void jitdump::on_batch_end() noexcept { JITCM_ASSERT_CLEANUP(flush()); }

JITCM_DECL void jitdump::write_header() {
  buffer_.put(jitdump_format::magic);
  buffer_.put(jitdump_format::version);
  buffer_.put(jitdump_format::header_size);
  buffer_.put(jitdump_format::host_machine);
  buffer_.put(std::uint32_t{0});  // pad
  buffer_.put(platform::process_id());
  buffer_.put(platform::monotonic_nanoseconds());
  buffer_.put(std::uint64_t{0});  // flags: timestamps are CLOCK_MONOTONIC, not the CPU's counter
}

JITCM_DECL void jitdump::begin_record(jitdump_format::record_id id, std::size_t total_size) {
  buffer_.put(static_cast<std::uint32_t>(id));
  buffer_.put(static_cast<std::uint32_t>(total_size));
  buffer_.put(platform::monotonic_nanoseconds());
}

JITCM_DECL void jitdump::write_code_load(address_region where, std::string_view name) {
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

JITCM_DECL void jitdump::write_debug_info(const code& c) {
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

JITCM_DECL void jitdump::write_unwinding_info(const code& c) {
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

JITCM_DECL result<void> jitdump::flush_locked() {
  if (buffer_.empty()) return {};
  if (auto written = file_.write_all(buffer_.bytes()); !written) return written;
  buffer_.clear();
  return {};
}

}  // namespace jitcm::observe
