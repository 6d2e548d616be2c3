// lookup::detail::address_radix: level one of the segment map — an aligned
// address chunk to the map of that chunk, as CoreCLR's RangeSectionMap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

#include "../../base/error.hpp"
#include "../../base/result.hpp"
#include "shared_cell.hpp"

namespace jitcm::lookup::detail {

/// A radix tree over the whole address space at the granularity of aligned
/// chunks of 2^ChunkBits bytes: each level takes 11 bits of the chunk
/// number (4 levels for 1 MiB chunks on 64-bit hosts, the top one inline),
/// so finding a chunk's leaf is a fixed number of dependent loads whatever
/// is stored. Interior nodes are allocated when a chunk below them first
/// gets a leaf and kept until the tree is destroyed (a few per gigabyte of
/// address space in use), so readers never meet freed nodes. Leaves belong
/// to the caller.
///
/// Thread safety: `find` from any thread, async-signal-safe, concurrently
/// with `attach`/`detach` by the one writer (a reader sees the leaf before
/// or after the change).
template <class Leaf, unsigned ChunkBits, bool Concurrent>
class address_radix {
  static constexpr unsigned key_bits = std::numeric_limits<std::uintptr_t>::digits - ChunkBits;
  static constexpr unsigned slot_bits = 11;
  static constexpr unsigned levels = (key_bits + slot_bits - 1) / slot_bits;
  static constexpr unsigned top_bits = key_bits - slot_bits * (levels - 1);

  using slot = shared_cell<void*, Concurrent>;
  struct node {
    slot slots[std::size_t{1} << slot_bits];
  };

 public:
  address_radix() = default;
  address_radix(const address_radix&) = delete;
  address_radix& operator=(const address_radix&) = delete;
  ~address_radix() {
    for (const slot& s : top_) free_subtree(s.load(std::memory_order_relaxed), 1);
  }

  /// The leaf of the chunk holding `address`, or nullptr.
  [[nodiscard]] Leaf* find(std::uintptr_t address) const noexcept {
    return descend<1>(top_[index(address, 0)].load(), address);
  }

  /// Makes `leaf` the leaf of the chunk holding `address`. Error:
  /// out_of_memory (an interior node); nothing readers see changed then.
  [[nodiscard]] result<void> attach(std::uintptr_t address, Leaf* leaf) noexcept {
    slot* s = leaf_slot(address, true);
    if (s == nullptr) return failure{errc::out_of_memory};
    s->store(leaf);
    return {};
  }

  /// The chunk holding `address` has no leaf any more.
  void detach(std::uintptr_t address) noexcept {
    if (slot* s = leaf_slot(address, false)) s->store(nullptr);
  }

 private:
  // One level per instantiation, so each level's shift is a constant.
  template <unsigned Level>
  static Leaf* descend(void* at, std::uintptr_t address) noexcept {
    if constexpr (Level == levels) {
      return static_cast<Leaf*>(at);
    } else {
      if (at == nullptr) return nullptr;
      return descend<Level + 1>(static_cast<const node*>(at)->slots[index(address, Level)].load(), address);
    }
  }

  static constexpr std::size_t index(std::uintptr_t address, unsigned level) noexcept {
    const std::uintptr_t chunk = address >> ChunkBits;
    const unsigned shift = slot_bits * (levels - 1 - level);
    const std::uintptr_t mask = (std::uintptr_t{1} << (level == 0 ? top_bits : slot_bits)) - 1;
    return static_cast<std::size_t>((chunk >> shift) & mask);
  }

  // The slot holding the chunk's leaf; nullptr if an interior node is
  // missing and `create` is false or allocating it failed.
  slot* leaf_slot(std::uintptr_t address, bool create) noexcept {
    slot* s = &top_[index(address, 0)];
    for (unsigned level = 1; level < levels; ++level) {
      void* child = s->load(std::memory_order_relaxed);
      if (child == nullptr) {
        if (!create || (child = new (std::nothrow) node{}) == nullptr) return nullptr;
        s->store(child);
      }
      s = &static_cast<node*>(child)->slots[index(address, level)];
    }
    return s;
  }

  static void free_subtree(void* at, unsigned level) noexcept {
    if (at == nullptr || level == levels) return;  // leaves are the caller's
    node* n = static_cast<node*>(at);
    for (const slot& s : n->slots) free_subtree(s.load(std::memory_order_relaxed), level + 1);
    delete n;
  }

  slot top_[std::size_t{1} << top_bits];
};

}  // namespace jitcm::lookup::detail
