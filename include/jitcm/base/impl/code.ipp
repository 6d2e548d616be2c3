// Definitions of <jitcm/base/code.hpp> (see allocator/impl/tlsf.ipp): code
// creation's validation and the metadata searches.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <system_error>

#include "../code.hpp"

namespace jitcm {

JITCM_DECL std::optional<std::uint32_t> code::index() const noexcept {
  if (index_ == no_index) return std::nullopt;
  return index_;
}

JITCM_DECL std::string_view code::name() const noexcept {
  return {reinterpret_cast<const char*>(metadata_.get()) + name_offset(), name_size_};
}

JITCM_DECL std::span<const std::uint32_t> code::protected_instructions() const noexcept {
  return {reinterpret_cast<const std::uint32_t*>(metadata_.get() + protected_offset()), protected_count_};
}

JITCM_DECL std::span<const std::byte> code::unwind_info() const noexcept {
  if (!has_unwind_info_) return {};
  return {metadata_.get() + unwind_offset() + sizeof(std::uint32_t), unwind_info_size()};
}

JITCM_DECL std::span<const source_position> code::source_positions() const noexcept {
  return {reinterpret_cast<const source_position*>(metadata_.get()), source_position_count_};
}

JITCM_DECL bool code::is_protected_instruction(std::uintptr_t pc) const noexcept {
  if (!contains(pc)) return false;
  const auto offsets = protected_instructions();
  return std::binary_search(offsets.begin(), offsets.end(), static_cast<std::uint32_t>(pc - instruction_start()));
}

JITCM_DECL std::optional<source_position> code::source_position_before(std::size_t code_offset) const noexcept {
  if (code_offset >= instructions_size()) return std::nullopt;
  const auto positions = source_positions();
  const auto after =
      std::upper_bound(positions.begin(), positions.end(), code_offset,
                       [](std::size_t offset, const source_position& entry) { return offset < entry.code_offset; });
  if (after == positions.begin()) return std::nullopt;
  return *(after - 1);
}

namespace detail {

/// Checks that `values` projected by `key` are strictly increasing and below
/// `limit`.
template <class T, class Key>
[[nodiscard]] std::error_code check_offsets(std::span<const T> values, std::size_t limit, Key key) noexcept {
  if (values.size() > std::numeric_limits<std::uint32_t>::max()) return make_error_code(errc::size_overflow);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint32_t offset = key(values[i]);
    if (offset >= limit) return make_error_code(errc::out_of_range);
    if (i > 0 && offset <= key(values[i - 1])) return make_error_code(errc::invalid_argument);
  }
  return {};
}

/// Checks that `entries` is a sequence of .eh_frame entries whose 32-bit
/// lengths tile it exactly (what code_desc::unwind_info promises; the
/// entries' contents are the unwinder's business).
[[nodiscard]] JITCM_DECL std::error_code check_eh_frame_entries(std::span<const std::byte> entries) noexcept {
  if (entries.size() > std::numeric_limits<std::uint32_t>::max()) return make_error_code(errc::size_overflow);
  if (entries.size() % 4 != 0) return make_error_code(errc::invalid_argument);
  std::size_t at = 0;
  while (at < entries.size()) {
    std::uint32_t length = 0;
    std::memcpy(&length, entries.data() + at, sizeof length);
    // 0 terminates a section (the registry adds its own); 0xffffffff
    // announces the 64-bit format, which no JIT needs.
    if (length == 0 || length == 0xffffffffu || length % 4 != 0) return make_error_code(errc::invalid_argument);
    if (length > entries.size() - at - 4) return make_error_code(errc::invalid_argument);
    at += 4 + std::size_t{length};
  }
  return {};
}

}  // namespace detail

JITCM_DECL result<std::unique_ptr<code>> code::create(const code_desc& desc) noexcept {
  const address_region instructions = desc.instructions;
  if (instructions.empty()) return failure{errc::invalid_argument};
  if (instructions.begin() > std::numeric_limits<std::uintptr_t>::max() - instructions.size()) {
    return failure{errc::size_overflow};
  }
  if (desc.kind == code_kind::function && !desc.index) return failure{errc::invalid_argument};
  if (desc.index && *desc.index == no_index) return failure{errc::out_of_range};
  if (desc.name.size() > std::numeric_limits<std::uint32_t>::max()) return failure{errc::size_overflow};

  if (auto error = detail::check_offsets(desc.protected_instructions, instructions.size(),
                                         [](std::uint32_t offset) { return offset; })) {
    return failure{error};
  }
  if (auto error = detail::check_offsets(desc.source_positions, instructions.size(),
                                         [](const source_position& entry) { return entry.code_offset; })) {
    return failure{error};
  }
  if (auto error = detail::check_eh_frame_entries(desc.unwind_info)) return failure{error};

  // Each count fits in 32 bits (checked above), so the total fits in 64.
  const std::size_t positions_bytes = desc.source_positions.size_bytes();
  const std::size_t protected_bytes = desc.protected_instructions.size_bytes();
  const std::size_t unwind_bytes = desc.unwind_info.empty() ? 0 : sizeof(std::uint32_t) + desc.unwind_info.size();
  const std::size_t metadata_size = positions_bytes + protected_bytes + unwind_bytes + desc.name.size();

  std::unique_ptr<code> created{new (std::nothrow) code};
  if (!created) return failure{errc::out_of_memory};
  if (metadata_size > 0) {
    created->metadata_.reset(new (std::nothrow) std::byte[metadata_size]);
    if (!created->metadata_) return failure{errc::out_of_memory};
    std::byte* out = created->metadata_.get();
    if (positions_bytes > 0) std::memcpy(out, desc.source_positions.data(), positions_bytes);
    if (protected_bytes > 0) std::memcpy(out + positions_bytes, desc.protected_instructions.data(), protected_bytes);
    out += positions_bytes + protected_bytes;
    if (unwind_bytes > 0) {
      const auto size = static_cast<std::uint32_t>(desc.unwind_info.size());
      std::memcpy(out, &size, sizeof size);
      std::memcpy(out + sizeof size, desc.unwind_info.data(), desc.unwind_info.size());
    }
    if (!desc.name.empty()) std::memcpy(out + unwind_bytes, desc.name.data(), desc.name.size());
  }
  created->instructions_ = instructions;
  created->owner_ = desc.owner;
  created->index_ = desc.index.value_or(no_index);
  created->source_position_count_ = static_cast<std::uint32_t>(desc.source_positions.size());
  created->protected_count_ = static_cast<std::uint32_t>(desc.protected_instructions.size());
  created->name_size_ = static_cast<std::uint32_t>(desc.name.size());
  created->has_unwind_info_ = unwind_bytes > 0;
  created->kind_ = desc.kind;
  created->tier_ = desc.tier;
  created->debug_ = desc.debug;
  return created;
}

}  // namespace jitcm
