// The values allocators hand out: code blocks, code-space records, statistics.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../base/address_region.hpp"
#include "../platform/placement_and_backing.hpp"

namespace jitcm {

/// A block of code memory: where it executes (`executable()`) and where to write the
/// bytes that execute there (`writable()`; the same address unless the W^X strategy
/// maps the memory twice). `size()` is the requested size rounded up to the
/// allocator's alignment.
class code_block {
 public:
  constexpr code_block() noexcept = default;
  constexpr code_block(std::uintptr_t executable, std::uintptr_t writable, std::size_t size) noexcept
      : executable_{executable}, writable_{writable}, size_{size} {}

  [[nodiscard]] constexpr std::uintptr_t executable() const noexcept { return executable_; }
  [[nodiscard]] constexpr std::uintptr_t writable() const noexcept { return writable_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  /// The executable addresses of the block.
  [[nodiscard]] constexpr address_region region() const noexcept { return {executable_, size_}; }
  /// The addresses to write through.
  [[nodiscard]] constexpr address_region writable_region() const noexcept { return {writable_, size_}; }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }

  friend constexpr bool operator==(const code_block&, const code_block&) noexcept = default;

 private:
  std::uintptr_t executable_ = 0;
  std::uintptr_t writable_ = 0;
  std::size_t size_ = 0;
};

/// One reserved code space and the header areas set aside at its start
/// (see allocator::options::space_code_header and space_data_header).
struct code_space {
  address_region region;       ///< the whole reservation
  address_region code_header;  ///< executable, committed at reservation, never handed out
  address_region data_header;  ///< read-write data (commit_data), page-aligned, never handed out
  address_region code;         ///< where code blocks are carved from
  /// Whether the space landed in allocator::options::preferred_range.
  platform::placement placed = platform::placement::anywhere;
  /// What backs its pages (allocator::options::pages asks for large pages).
  platform::page_backing pages = platform::page_backing::normal;
};

/// What an allocator holds, in bytes (and spaces).
struct allocator_stats {
  std::size_t reserved = 0;     ///< address space of all code spaces
  std::size_t committed = 0;    ///< committed pages, headers included
  std::size_t live = 0;         ///< sizes of the blocks handed out and not freed
  std::size_t freed = 0;        ///< sizes of all blocks freed so far
  std::size_t code_spaces = 0;  ///< number of code spaces
  std::size_t spare =
      0;  ///< committed bytes (in `committed`) of units holding no block; see options::max_spare_committed

  friend constexpr bool operator==(const allocator_stats&, const allocator_stats&) noexcept = default;
};

}  // namespace jitcm
