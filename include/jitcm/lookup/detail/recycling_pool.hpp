// lookup::detail::recycling_pool: numbered items at stable addresses that a
// writer hands out and takes back, and readers may read at any time.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>

#include "../../base/error.hpp"
#include "../../base/result.hpp"
#include "shared_cell.hpp"

namespace jitcm::lookup::detail {

/// Items numbered 0, 1, 2, ... in blocks that double in size (64, 128, ...),
/// found from a fixed directory of block pointers, so an index is a few
/// shifts and two dependent loads from its item and growing never moves an
/// item. Given-back items are handed out again before new ones, so the
/// memory held is bounded by the most items ever in use at once (rounded up
/// to a power of two); blocks are freed only by the destructor. A reader
/// holding a stale index therefore always reads valid memory of the right
/// type, possibly reused: items must let readers detect that (see
/// code_record).
///
/// Indices stay below 2^31 - 64. Items start value-initialised.
///
/// Thread safety: `operator[] const` from any thread, async-signal-safe,
/// for an index the reader got from the writer; the rest by the one writer.
template <class T, bool Concurrent>
class recycling_pool {
  static constexpr unsigned first_block_bits = 6;
  static constexpr std::uint32_t first_block_size = std::uint32_t{1} << first_block_bits;
  static constexpr unsigned max_blocks = 31 - first_block_bits;
  static constexpr std::uint32_t no_index = ~std::uint32_t{0};

 public:
  recycling_pool() = default;
  recycling_pool(const recycling_pool&) = delete;
  recycling_pool& operator=(const recycling_pool&) = delete;
  ~recycling_pool() {
    for (unsigned block = 0; block < max_blocks; ++block) {
      delete[] blocks_[block].load(std::memory_order_relaxed);
      delete[] next_free_[block];
    }
  }

  [[nodiscard]] const T& operator[](std::uint32_t index) const noexcept {
    const position at = locate(index);
    return blocks_[at.block].load()[at.offset];
  }
  [[nodiscard]] T& operator[](std::uint32_t index) noexcept {
    const position at = locate(index);
    return blocks_[at.block].load(std::memory_order_relaxed)[at.offset];
  }

  /// A free item's index. Errors: out_of_memory, limit_exceeded (2^31 - 64
  /// items in use).
  [[nodiscard]] result<std::uint32_t> take() noexcept {
    if (free_head_ != no_index) {
      const std::uint32_t index = free_head_;
      free_head_ = link(index);
      ++in_use_;
      return index;
    }
    const position at = locate(fresh_);
    if (at.block >= max_blocks) return failure{errc::limit_exceeded};
    if (at.offset == 0 && !add_block(at.block)) return failure{errc::out_of_memory};
    ++in_use_;
    return fresh_++;
  }

  /// Hands `index` out again later. The item must already be in the state a
  /// new item starts in, as far as the caller's `take` expects.
  void give_back(std::uint32_t index) noexcept {
    link(index) = free_head_;
    free_head_ = index;
    --in_use_;
  }

  [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }
  /// Items ever handed out: the peak of `in_use()`.
  [[nodiscard]] std::size_t allocated() const noexcept { return fresh_; }

 private:
  struct position {
    unsigned block;
    std::uint32_t offset;
  };

  static position locate(std::uint32_t index) noexcept {
    const std::uint64_t shifted = std::uint64_t{index} + first_block_size;
    const unsigned block = static_cast<unsigned>(std::bit_width(shifted)) - 1 - first_block_bits;
    return {block, static_cast<std::uint32_t>(shifted - (std::uint64_t{first_block_size} << block))};
  }

  bool add_block(unsigned block) noexcept {
    const std::size_t size = std::size_t{first_block_size} << block;
    T* items = new (std::nothrow) T[size]();
    std::uint32_t* links = new (std::nothrow) std::uint32_t[size];
    if (items == nullptr || links == nullptr) {
      delete[] items;
      delete[] links;
      return false;
    }
    next_free_[block] = links;
    blocks_[block].store(items);
    return true;
  }

  std::uint32_t& link(std::uint32_t index) noexcept {
    const position at = locate(index);
    return next_free_[at.block][at.offset];
  }

  shared_cell<T*, Concurrent> blocks_[max_blocks];
  std::uint32_t* next_free_[max_blocks] = {};  // the writer's free list, apart from what readers see
  std::uint32_t free_head_ = no_index;
  std::uint32_t fresh_ = 0;  // the first index never handed out
  std::size_t in_use_ = 0;
};

}  // namespace jitcm::lookup::detail
