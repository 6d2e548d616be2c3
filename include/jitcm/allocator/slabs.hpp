// allocator::slab_free_space: small blocks in slabs of equal slots, over
// another free-space policy; allocator::slab_tlsf, the default allocator.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../protection/host_default.hpp"
#include "basic_allocator.hpp"
#include "detail/slab_windows.hpp"
#include "tlsf.hpp"

namespace jitcm::allocator {

/// Free space in two tiers: blocks of up to max_slot_granules alignment
/// granules take a slot in a slab, a run of slab_granules granules split into
/// equal slots of one size, with a bitmap of its free slots; every other
/// block, and every slab, comes from `Inner` (tlsf_free_space by default).
///
/// Why: a random free in a coalescing allocator (TLSF, V8's pool) touches
/// the block's table line, its free neighbours' headers and their size
/// classes, several cache misses; a slot's free clears one bit in the
/// slab's descriptor, beside its count. That is how asmjit's JitAllocator,
/// which keeps a bitmap per block, frees in a few lines; slabs keep that for
/// small blocks and TLSF's O(1) allocate, which asmjit's bitmap search lacks,
/// for all.
///
/// - allocate(n) of a small size takes the first free slot of the newest
///   slab of its size with one (a bit scan), or opens a slab (an Inner
///   allocation of a slab); when Inner has no room for a slab, the block
///   comes from Inner itself, so a space grows only when Inner has no room
///   for the block. Free slots serve their own size only: a space may grow
///   while slabs of other sizes have free slots (of a size, the newest
///   partly used slab is filled first).
/// - free(r) finds the slab holding r through detail::slab_windows, a table
///   with an entry per slab-sized window of the address space (each meets at
///   most two slabs), so it never searches, not even for the code space; a
///   slab whose last slot is freed goes back to Inner at once, merged with
///   its free neighbours there.
/// - A slab is a live block to Inner; its units are committed slot by slot
///   (basic_allocator commits what each block lies on), so an empty slot's
///   pages may be decommitted.
/// - Slabs are used when a slab is at most 64 KiB (alignment up to 64 B);
///   with larger alignments (a page, when blocks get pages of their own)
///   every block goes to Inner.
///
/// Checks as Inner's: a free of a slot that is free, or of an address inside
/// a slot, is a double_free; a free whose size is not the slot's is an
/// invalid_argument; nothing changes on error. free_at is offered when
/// Inner offers it.
///
/// ```cpp
/// jitcm::allocator::slab_tlsf<> a;           // the default_allocator
/// auto b = a.allocate(200);                  // a 256-byte slot of a slab
/// auto f = a.free(b->executable());          // one bit and a count
/// ```
///
/// Thread safety: none; the owning allocator locks.
template <class Inner>
class slab_free_space {
 public:
  static constexpr bool returns_memory = Inner::returns_memory;
  /// Granules per slab: 16 bitmap words of slots, 64 KiB at 64-byte granules.
  static constexpr std::size_t slab_granules = 1024;
  /// Largest block, in granules, that takes a slot (2 KiB at 64 bytes; at
  /// least 32 slots a slab).
  static constexpr std::size_t max_slot_granules = 32;
  /// Largest slab: above it (granules over 64 bytes) nothing takes a slot.
  static constexpr std::size_t max_slab_bytes = std::size_t{64} << 10;

  explicit slab_free_space(std::size_t alignment)
      : inner_{alignment},
        shift_{static_cast<unsigned>(std::countr_zero(alignment))},
        slab_shift_{shift_ + static_cast<unsigned>(std::countr_zero(slab_granules))},
        slabs_enabled_{(slab_granules << shift_) <= max_slab_bytes} {
    static_assert(free_space_policy<Inner>,
                  "jitcm: slab_free_space's Inner is not a jitcm::allocator::free_space_policy (see the table in "
                  "<jitcm/allocator/basic_allocator.hpp>)");
  }

  bool add_space(address_region code) { return inner_.add_space(code); }

  address_region allocate(std::size_t bytes) {
    const std::size_t granules = bytes >> shift_;
    if (!slabs_enabled_ || granules > max_slot_granules) return inner_.allocate(bytes);
    const std::vector<std::uint32_t>& partial = partial_[granules];
    const std::uint32_t index = partial.empty() ? open_slab(granules) : partial.back();
    if (index == none) return inner_.allocate(bytes);
    return take_slot(index);
  }

  /// Never a slot: a window is for jump tables and for undoing a free.
  address_region allocate_in_region(std::size_t bytes, address_region within) {
    return inner_.allocate_in_region(bytes, within);
  }

  void undo(address_region r) {
    if (windows_.find(r.begin()) == nullptr) {
      inner_.undo(r);
    } else {
      (void)free(r);
    }
  }

  std::error_code free(address_region r) {
    const detail::slab_windows::slab* found = windows_.find(r.begin());
    if (found == nullptr) return inner_.free(r);
    const std::uint32_t slot = live_slot(*found, r.begin());
    if (slot == none) return make_error_code(errc::double_free);
    if (r.size() != std::size_t{found->tag} << shift_) return make_error_code(errc::invalid_argument);
    give_back(found->id - 1, slot);
    return {};
  }

  /// Frees the live block that starts at `address` and returns it; empty
  /// (nothing changed) when none does.
  address_region free_at(std::uintptr_t address) requires frees_at<Inner> {
    const detail::slab_windows::slab* found = windows_.find(address);
    if (found == nullptr) return inner_.free_at(address);
    const std::uint32_t slot = live_slot(*found, address);
    if (slot == none) return {};
    const address_region block{address, std::size_t{found->tag} << shift_};
    give_back(found->id - 1, slot);
    return block;
  }

  /// Slabs open now (for tests).
  [[nodiscard]] std::size_t open_slabs() const noexcept { return slabs_.size() - unused_.size(); }
  /// The policy under the slabs (for tests).
  [[nodiscard]] const Inner& inner() const noexcept { return inner_; }

 private:
  static constexpr std::uint32_t none = UINT32_MAX;
  static constexpr std::size_t words = slab_granules / 64;

  // A slab: its header, then its bitmap of free slots, on cache-line
  // boundaries. A free reads the bitmap word of its slot and writes it and
  // the count beside it: one line for slabs of up to 320 slots (slots of 4
  // granules or more), where a bitmap kept apart from the headers was a
  // second miss on every free. Its start and slot size are also in the
  // windows (as the tag), where a free finds them.
  struct alignas(64) slab {
    std::uintptr_t begin;
    std::uint32_t partial_at;     // place in partial_[slot_granules], or none when full
    std::uint16_t slot_granules;  // 0 while unused
    std::uint16_t slots;
    std::uint16_t live;
    std::uint16_t first_word;               // no free slot in the words below
    std::array<std::uint64_t, words> free;  // a set bit per free slot
  };

  // ceil(2^32 / k) for every slot size k: slot = granule * reciprocal >> 32,
  // exact for granule < 2^16, where a division by k costs tens of cycles.
  static constexpr std::array<std::uint64_t, max_slot_granules + 1> reciprocals = [] {
    std::array<std::uint64_t, max_slot_granules + 1> r{};
    for (std::size_t k = 1; k <= max_slot_granules; ++k) r[k] = ((std::uint64_t{1} << 32) + k - 1) / k;
    return r;
  }();

  [[nodiscard]] std::size_t slot_bytes(const slab& s) const noexcept { return std::size_t{s.slot_granules} << shift_; }

  // The live slot of the slab `found` that starts at `address`, or none:
  // from the window's entry and the slab's bitmap, not its header.
  [[nodiscard]] std::uint32_t live_slot(const detail::slab_windows::slab& found,
                                        std::uintptr_t address) const noexcept {
    const std::uintptr_t offset = address - found.begin;
    if ((offset & ((std::uintptr_t{1} << shift_) - 1)) != 0) return none;
    const std::uint64_t granule = offset >> shift_;
    const std::uint32_t granules = found.tag;
    const auto slot = static_cast<std::uint32_t>((granule * reciprocals[granules]) >> 32);
    // A slot start, and a whole slot before the slab's end (no division).
    if (std::uint64_t{slot} * granules != granule || granule + granules > slab_granules) return none;
    if ((slabs_[found.id - 1].free[slot / 64] >> (slot % 64) & 1) != 0) return none;
    return slot;
  }

  // Takes a slab of `granules`-granule slots from Inner; none when it has
  // no room (or the slab's window table cannot be allocated).
  std::uint32_t open_slab(std::size_t granules) {
    const address_region region = inner_.allocate(slab_granules << shift_);
    if (region.empty()) return none;
    const auto index = static_cast<std::uint32_t>(unused_.empty() ? slabs_.size() : unused_.back());
    if (!windows_.add(region.begin(), index + 1, static_cast<std::uint32_t>(granules))) {
      inner_.undo(region);
      return none;
    }
    if (unused_.empty()) {
      slabs_.emplace_back();
    } else {
      unused_.pop_back();
    }
    slab& s = slabs_[index];
    s.begin = region.begin();
    s.slot_granules = static_cast<std::uint16_t>(granules);
    s.slots = static_cast<std::uint16_t>(slab_granules / granules);
    s.live = 0;
    s.first_word = 0;
    for (std::size_t w = 0; w < words; ++w) {
      const std::size_t below = std::min<std::size_t>(64, s.slots > w * 64 ? s.slots - w * 64 : 0);
      s.free[w] = below == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << below) - 1;
    }
    add_partial(index);
    return index;
  }

  address_region take_slot(std::uint32_t index) {
    slab& s = slabs_[index];
    std::array<std::uint64_t, words>& free = s.free;
    std::size_t w = s.first_word;
    while (free[w] == 0) ++w;  // a partial slab has a free slot
    const auto slot = static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(free[w])));
    free[w] &= free[w] - 1;
    s.first_word = static_cast<std::uint16_t>(w);
    if (++s.live == s.slots) remove_partial(index);
    return {s.begin + ((std::size_t{slot} * s.slot_granules) << shift_), slot_bytes(s)};
  }

  void give_back(std::uint32_t index, std::uint32_t slot) {
    slab& s = slabs_[index];
    const bool was_full = s.live == s.slots;
    s.free[slot / 64] |= std::uint64_t{1} << (slot % 64);
    s.first_word = std::min(s.first_word, static_cast<std::uint16_t>(slot / 64));
    if (--s.live == 0) {
      close_slab(index, was_full);
    } else if (was_full) {
      add_partial(index);
    }
  }

  // Gives slab `index`, which has no live slot, back to Inner.
  void close_slab(std::uint32_t index, bool was_full) {
    slab& s = slabs_[index];
    if (!was_full) remove_partial(index);
    const address_region region{s.begin, slab_granules << shift_};
    windows_.remove(s.begin);
    s.slot_granules = 0;
    unused_.push_back(index);
    (void)inner_.free(region);  // a live block of Inner's: cannot fail
  }

  // A slab's class is an array of slab indices, as TLSF's classes: adding
  // appends, removing moves the last into the hole.
  void add_partial(std::uint32_t index) {
    std::vector<std::uint32_t>& partial = partial_[slabs_[index].slot_granules];
    slabs_[index].partial_at = static_cast<std::uint32_t>(partial.size());
    partial.push_back(index);
  }
  void remove_partial(std::uint32_t index) noexcept {
    std::vector<std::uint32_t>& partial = partial_[slabs_[index].slot_granules];
    const std::uint32_t at = slabs_[index].partial_at;
    partial[at] = partial.back();
    slabs_[partial[at]].partial_at = at;
    partial.pop_back();
    slabs_[index].partial_at = none;
  }

  Inner inner_;
  unsigned shift_;
  unsigned slab_shift_;
  bool slabs_enabled_;
  std::vector<slab> slabs_;
  std::vector<std::uint32_t> unused_;                                      // indices of unused slab descriptors
  std::array<std::vector<std::uint32_t>, max_slot_granules + 1> partial_;  // slabs with a free slot, by slot size
  detail::slab_windows windows_{slab_shift_};                              // where each slab lies
};

/// The default code allocator: slabs for blocks of up to 2 KiB (at 64-byte
/// alignment) over TLSF for the rest, with the code-space growth,
/// commit-on-demand and decommit of every jitcm allocator.
template <class Protection = protection::host_default>
using slab_tlsf = basic_allocator<Protection, slab_free_space<tlsf_free_space>>;

}  // namespace jitcm::allocator
