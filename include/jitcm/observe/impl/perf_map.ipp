// Definitions of <jitcm/observe/perf_map.hpp> (see environment.ipp).
#pragma once

#include <cstdio>
#include <new>
#include <string>

#include "../../base/code.hpp"
#include "../../detail/assert.hpp"
#include "../detail/names.hpp"
#include "../perf_map.hpp"

namespace jitcm::observe {

JITCM_DECL std::string perf_map::default_path() {
  return "/tmp/perf-" + std::to_string(platform::process_id()) + ".map";
}

JITCM_DECL result<std::unique_ptr<perf_map>> perf_map::open() { return open(default_path()); }

JITCM_DECL result<std::unique_ptr<perf_map>> perf_map::open(const std::string& path) {
  auto file = platform::tool_file::open_append(path);
  if (!file) return forward_error(file);
  std::unique_ptr<perf_map> map{new (std::nothrow) perf_map{std::move(*file), path}};
  if (!map) return failure{errc::out_of_memory};
  return map;
}

JITCM_DECL perf_map::~perf_map() { JITCM_ASSERT_CLEANUP(flush()); }

JITCM_DECL result<void> perf_map::flush() {
  std::lock_guard lock{mutex_};
  return flush_locked();
}

JITCM_DECL std::size_t perf_map::lines_written() const {
  std::lock_guard lock{mutex_};
  return lines_written_;
}

JITCM_DECL void perf_map::on_code_added(const code& c) noexcept { append(c.instructions(), detail::display_name(c)); }

JITCM_DECL void perf_map::on_code_moved(const code& c, address_region) noexcept {
  append(c.instructions(), detail::display_name(c));
}

JITCM_DECL void perf_map::on_jump_table_added(std::span<const jump_table_slot> slots) noexcept {
  std::lock_guard lock{mutex_};
  for (const jump_table_slot& s : slots) append_locked(s.instructions, slot_name{s}.view());
}

JITCM_DECL void perf_map::on_batch_end() noexcept { JITCM_ASSERT_CLEANUP(flush()); }

JITCM_DECL void perf_map::append(address_region where, std::string_view name) noexcept {
  std::lock_guard lock{mutex_};
  append_locked(where, name);
}

JITCM_DECL void perf_map::append_locked(address_region where, std::string_view name) noexcept {
  char numbers[2 * 16 + 3];
  const int length =
      std::snprintf(numbers, sizeof numbers, "%zx %zx ", static_cast<std::size_t>(where.begin()), where.size());
  buffer_.put_bytes(std::as_bytes(std::span{numbers, static_cast<std::size_t>(length)}));
  // A newline inside a name would start a bogus line: perf's parser ends
  // the name there.
  for (char ch : name) buffer_.put(ch == '\n' ? ' ' : ch);
  buffer_.put('\n');
  ++lines_buffered_;
  if (buffer_.size() >= flush_threshold) JITCM_ASSERT_CLEANUP(flush_locked());
}

JITCM_DECL result<void> perf_map::flush_locked() {
  if (buffer_.empty()) return {};
  if (auto written = file_.write_all(buffer_.bytes()); !written) return written;
  buffer_.clear();
  lines_written_ += lines_buffered_;
  lines_buffered_ = 0;
  return {};
}

}  // namespace jitcm::observe
