// slab_windows: which slabs lie at an address, for allocator::slab_free_space.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../base/config.hpp"

namespace jitcm::allocator::detail {

/// The address space cut into windows of one slab's size, each naming the
/// slabs that meet it: at most two, since slabs are as large as windows and
/// never overlap. Finding the slabs at an address is a few loads and no
/// search, whichever code space the address lies in: a table per 4 GiB of
/// address space that holds a slab (calloc'd, so the OS backs with pages
/// only the part where slabs are: 8 bytes per window), found among the few
/// such regions by a linear scan (code spaces lie close together).
///
/// Each slab carries an id (nonzero) and a tag of the owner's choosing (its
/// slot size), kept in the window beside its start: the owner learns the
/// slab and its slot size from the window's line alone, and loads the
/// slab's own data in parallel.
///
/// | expression             | result                 | guarantees |
/// |------------------------|------------------------|------------|
/// | `slab_windows{s}`      |                        | windows of 2^s bytes, no slab |
/// | `w.add(b, id, tag)`    | `bool`                 | the slab at [b, b + 2^s) is found from its windows; false, nothing changed, when a table cannot be allocated (or the fault hook refuses) |
/// | `w.remove(b)`          | `void`                 | undoes add(b, ...) |
/// | `w.find(p)`            | `const slab_windows::slab*` | the slab holding `p` (begin, id, tag), or nullptr |
///
/// ```cpp
/// jitcm::allocator::detail::slab_windows w{16};
/// w.add(0x10008000, 7, 3);                 // meets windows 0x1000 and 0x1001
/// assert(w.find(0x10017fff)->id == 7);
/// ```
///
/// Thread safety: none; the owning allocator locks.
class slab_windows {
 public:
  struct slab {
    std::uintptr_t begin;
    std::uint32_t id;  // 0: none
    std::uint32_t tag;
  };

  explicit slab_windows(unsigned window_shift) noexcept;
  slab_windows(const slab_windows&) = delete;
  slab_windows& operator=(const slab_windows&) = delete;
  ~slab_windows();

  bool add(std::uintptr_t begin, std::uint32_t id, std::uint32_t tag);

  void remove(std::uintptr_t begin) noexcept;

  [[nodiscard]] const slab* find(std::uintptr_t address) const noexcept {
    const window* w = existing_window(address);
    if (w == nullptr) return nullptr;
    // Which of the two entries holds `address` is a coin toss for frees
    // in random order: chosen by a conditional move, not a branch.
    const slab& entry = w->slabs[holds(w->slabs[0], address) ? 0 : 1];
    return holds(entry, address) ? &entry : nullptr;
  }

 private:
  static constexpr unsigned region_bits = 32;

  struct window {
    std::array<slab, 2> slabs;
  };

  struct region {
    std::uint64_t high;  // address >> region_bits
    window* windows;     // 2^(region_bits - shift_) of them, from calloc
  };

  [[nodiscard]] std::uintptr_t size() const noexcept { return std::uintptr_t{1} << shift_; }

  [[nodiscard]] std::size_t index(std::uintptr_t address) const noexcept {
    const std::uint64_t within = static_cast<std::uint64_t>(address) & ((std::uint64_t{1} << region_bits) - 1);
    return static_cast<std::size_t>(within >> shift_);
  }

  // The window of `address`, or nullptr when its region has no table.
  [[nodiscard]] window* existing_window(std::uintptr_t address) const noexcept {
    const std::uint64_t high = static_cast<std::uint64_t>(address) >> region_bits;
    for (const region& r : regions_) {
      if (r.high == high) return &r.windows[index(address)];
    }
    return nullptr;
  }

  // The window of `address`, its region's table made if missing (nullptr
  // when refused).
  window* window_of(std::uintptr_t address);

  [[nodiscard]] bool holds(const slab& entry, std::uintptr_t address) const noexcept {
    return entry.id != 0 && address - entry.begin < size();
  }

  static void claim(window& w, const slab& added) noexcept;

  unsigned shift_;
  std::vector<region> regions_;
};

}  // namespace jitcm::allocator::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/slab_windows.ipp"  // IWYU pragma: export
#endif
