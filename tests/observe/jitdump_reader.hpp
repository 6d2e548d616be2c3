// Reads a jitdump file back, field by field, so the tests check what perf
// would read (tools/perf/Documentation/jitdump-specification.txt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace jitcm::testing {

struct jitdump_header {
  std::uint32_t magic, version, total_size, elf_mach, pad1, pid;
  std::uint64_t timestamp, flags;
};

struct jitdump_debug_entry {
  std::uint64_t address;
  std::int32_t line, discriminator;
  std::string file;
};

struct jitdump_record {
  std::uint32_t id = 0, total_size = 0;
  std::uint64_t timestamp = 0;
  // CODE_LOAD and CODE_MOVE
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t vma = 0, code_address = 0, code_size = 0, code_index = 0, old_address = 0;
  std::string name;
  std::vector<std::byte> code;
  // DEBUG_INFO
  std::vector<jitdump_debug_entry> lines;
  // UNWINDING_INFO
  std::uint64_t unwinding_size = 0, header_size = 0, mapped_size = 0;
  std::vector<std::byte> unwinding;
};

struct jitdump_contents {
  jitdump_header header{};
  std::vector<jitdump_record> records;
};

/// Parses the file at `path`; nullopt if any record does not fit the format.
inline std::optional<jitdump_contents> read_jitdump(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  const std::vector<char> raw{std::istreambuf_iterator<char>{in}, {}};
  const auto* data = reinterpret_cast<const std::byte*>(raw.data());
  std::size_t at = 0;
  bool ok = true;
  const auto take = [&](auto& value) {
    if (raw.size() - at < sizeof value) {
      ok = false;
      return;
    }
    std::memcpy(&value, data + at, sizeof value);
    at += sizeof value;
  };
  const auto take_string = [&](std::size_t end) {
    std::string text;
    while (at < end && data[at] != std::byte{0}) text.push_back(static_cast<char>(data[at++]));
    if (at >= end) ok = false;
    ++at;
    return text;
  };
  jitdump_contents dump;
  jitdump_header& h = dump.header;
  for (auto* field : {&h.magic, &h.version, &h.total_size, &h.elf_mach, &h.pad1, &h.pid}) take(*field);
  take(h.timestamp);
  take(h.flags);
  if (!ok || h.total_size != 40) return std::nullopt;
  at = h.total_size;
  while (ok && at < raw.size()) {
    jitdump_record r;
    const std::size_t start = at;
    take(r.id);
    take(r.total_size);
    take(r.timestamp);
    if (!ok || r.total_size < 16 || r.total_size > raw.size() - start) return std::nullopt;
    const std::size_t end = start + r.total_size;
    if (r.id == 0) {  // CODE_LOAD
      take(r.pid), take(r.tid), take(r.vma), take(r.code_address), take(r.code_size), take(r.code_index);
      r.name = take_string(end);
      if (end - at != r.code_size) return std::nullopt;
      r.code.assign(data + at, data + end);
    } else if (r.id == 1) {  // CODE_MOVE
      take(r.pid), take(r.tid), take(r.vma), take(r.old_address), take(r.code_address), take(r.code_size),
          take(r.code_index);
    } else if (r.id == 2) {  // DEBUG_INFO
      std::uint64_t count = 0;
      take(r.code_address);
      take(count);
      for (std::uint64_t i = 0; ok && i < count; ++i) {
        jitdump_debug_entry e;
        take(e.address), take(e.line), take(e.discriminator);
        e.file = take_string(end);
        r.lines.push_back(e);
      }
    } else if (r.id == 4) {  // UNWINDING_INFO
      take(r.unwinding_size), take(r.header_size), take(r.mapped_size);
      if (end - at < r.unwinding_size) return std::nullopt;
      r.unwinding.assign(data + at, data + at + r.unwinding_size);
    }
    if (!ok || at > end) return std::nullopt;
    at = end;
    dump.records.push_back(std::move(r));
  }
  if (!ok) return std::nullopt;
  return dump;
}

}  // namespace jitcm::testing
