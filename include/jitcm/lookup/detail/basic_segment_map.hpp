// lookup::detail::basic_segment_map: the two-level segment map behind
// lookup::segment_map, with or without synchronisation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>

#include "../../base/address_region.hpp"
#include "../../base/code.hpp"
#include "../../base/error.hpp"
#include "../../base/result.hpp"
#include "address_radix.hpp"
#include "code_record.hpp"
#include "recycling_pool.hpp"
#include "shared_cell.hpp"

namespace jitcm::lookup::detail {

/// The structure documented at lookup::segment_map. `Concurrent = false`
/// is the same structure with plain loads and stores and no lock, for one
/// thread (and to measure what the synchronisation costs).
///
/// Layout. Level one (address_radix) maps each aligned 1 MiB chunk that
/// holds code to its chunk map: one 32-bit word per 64-byte granule, plus
/// one word after the last. A granule's word is 0, or the record of the
/// code covering the granule's first byte ("head"), or — for a granule in
/// which some code starts and ends without covering its first byte, which
/// aligned allocators never produce — a byte map: one record per byte. The
/// last word of a chunk holds the code that starts in the chunk and runs
/// into the next one. A record (code_record) holds the range and pointer
/// of one code.
///
/// Why that suffices: a code covering pc in granule g either covers g's
/// first byte (the head of g) or starts inside g. If it also ends inside g
/// the granule has a byte map; otherwise it runs past g, so it covers the
/// first byte of g + 1 and is the head of g + 1 (or, at a chunk's end, the
/// chunk's last word). So `find` reads at most: the radix levels, the
/// word, one or two records (or a byte map entry and one record).
template <bool Concurrent>
class basic_segment_map {
 public:
  static constexpr unsigned granule_bits = 6;
  static constexpr unsigned chunk_bits = 20;
  static constexpr std::size_t granule_size = std::size_t{1} << granule_bits;
  static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
  /// Larger code is refused with limit_exceeded: every chunk it covers
  /// needs a 64 KiB chunk map.
  static constexpr std::size_t max_code_size = std::size_t{1} << 30;

  /// What the map holds now and the most it ever held (the memory kept);
  /// byte maps in use include the one spare an insert may keep.
  struct usage {
    std::size_t chunk_maps_in_use, chunk_maps_allocated;
    std::size_t records_in_use, records_allocated;
    std::size_t byte_maps_in_use, byte_maps_allocated;
  };

  basic_segment_map() = default;
  basic_segment_map(const basic_segment_map&) = delete;
  basic_segment_map& operator=(const basic_segment_map&) = delete;
  ~basic_segment_map() {
    while (all_chunk_maps_ != nullptr) delete std::exchange(all_chunk_maps_, all_chunk_maps_->next_allocated);
  }

  /// Errors: invalid_argument (null), overlapping_region, limit_exceeded
  /// (larger than max_code_size, or 2^31 - 64 codes), out_of_memory.
  [[nodiscard]] result<void> insert(const code* c) noexcept {
    if (c == nullptr || c->instructions().empty()) return failure{errc::invalid_argument};
    if (c->instructions_size() > max_code_size) return failure{errc::limit_exceeded};
    const extent s = extent_of(*c);
    std::lock_guard lock{mutex_};
    if (covers_any(s)) return failure{errc::overlapping_region};
    const result<std::uint32_t> ref = reserve(s);
    if (!ref) return forward_error(ref);
    record(*ref).assign(s.first, s.last + 1, c);
    for_each_granule(s, [&](chunk_map& map, const piece& p) { mark(map, p, *ref); });
    if (!same_chunk(s.first, s.last)) chunks_.find(s.first)->words[granules_per_chunk].store(*ref);
    for_each_chunk(s, [&](std::uintptr_t at, std::uintptr_t) { ++chunks_.find(at)->codes; });
    ++size_;
    return {};
  }

  /// Error: not_owned (`c` is null or not inserted).
  [[nodiscard]] result<void> erase(const code* c) noexcept {
    if (c == nullptr || c->instructions().empty()) return failure{errc::not_owned};
    const extent s = extent_of(*c);
    std::lock_guard lock{mutex_};
    const hit found = hit_at(s.first);
    if (found.owner != c) return failure{errc::not_owned};
    for_each_granule(s, [&](chunk_map& map, const piece& p) { unmark(map, p, found.ref); });
    if (!same_chunk(s.first, s.last)) chunks_.find(s.first)->words[granules_per_chunk].store(0);
    for_each_chunk(s, [&](std::uintptr_t at, std::uintptr_t) { --chunks_.find(at)->codes; });
    release_empty_chunks(s);
    // Last: a reader that still holds the record's number sees it change.
    record(found.ref).assign(0, 0, nullptr);
    records_.give_back(found.ref - 1);
    --size_;
    return {};
  }

  [[nodiscard]] const code* find(std::uintptr_t pc) const noexcept { return hit_at(pc).owner; }

  [[nodiscard]] std::size_t size() const noexcept {
    std::lock_guard lock{mutex_};
    return size_;
  }

  [[nodiscard]] usage memory_usage() const noexcept {
    std::lock_guard lock{mutex_};
    return {chunk_maps_in_use_,   chunk_maps_allocated_, records_.in_use(),
            records_.allocated(), byte_maps_.in_use(),   byte_maps_.allocated()};
  }

 private:
  static constexpr std::size_t granules_per_chunk = chunk_size / granule_size;
  static constexpr std::uintptr_t granule_mask = granule_size - 1;
  static constexpr std::uint32_t byte_map_tag = std::uint32_t{1} << 31;
  static constexpr std::uint32_t no_byte_map = ~std::uint32_t{0};

  using word = shared_cell<std::uint32_t, Concurrent>;
  using record_type = code_record<Concurrent>;

  struct chunk_map {
    word words[granules_per_chunk + 1];
    // The writer's own bookkeeping, never read by readers.
    std::size_t codes = 0;  // code objects covering part of this chunk
    chunk_map* next_free = nullptr;
    chunk_map* next_allocated = nullptr;
  };
  struct byte_map {
    word bytes[granule_size];
  };

  /// First and last byte of a code (inclusive, so a granule or chunk at the
  /// top of the address space needs no special case).
  struct extent {
    std::uintptr_t first, last;
  };
  /// The part [from, to) of one granule (starting at `begin`) an extent covers.
  struct piece {
    std::size_t granule;  // index in its chunk
    std::uintptr_t begin;
    std::uintptr_t from, to;
    bool runs_past;  // the extent goes on after this granule
  };
  /// A record number (1-based; 0 is none) and its owner if it contains pc.
  struct hit {
    std::uint32_t ref = 0;
    const code* owner = nullptr;
  };

  // ---- readers -----------------------------------------------------------

  [[nodiscard]] hit hit_at(std::uintptr_t pc) const noexcept {
    const chunk_map* map = chunks_.find(pc);
    if (map == nullptr) return {};
    const std::size_t granule = (pc & (chunk_size - 1)) >> granule_bits;
    const std::uint32_t here = map->words[granule].load();
    if (is_byte_map(here)) return hit_in(bytes_of(here).bytes[pc & granule_mask].load(), pc);
    const hit head = hit_in(here, pc);
    if (head.owner != nullptr) return head;
    return hit_in(head_of(map->words[granule + 1].load()), pc);
  }

  [[nodiscard]] hit hit_in(std::uint32_t ref, std::uintptr_t pc) const noexcept {
    if (ref == 0) return {};
    return {ref, records_[ref - 1].owner_if_contains(pc)};
  }

  /// The record of the code covering a granule's first byte, given its word.
  [[nodiscard]] std::uint32_t head_of(std::uint32_t granule_word) const noexcept {
    return is_byte_map(granule_word) ? bytes_of(granule_word).bytes[0].load() : granule_word;
  }

  static bool is_byte_map(std::uint32_t granule_word) noexcept { return (granule_word & byte_map_tag) != 0; }
  [[nodiscard]] const byte_map& bytes_of(std::uint32_t granule_word) const noexcept {
    return byte_maps_[granule_word & ~byte_map_tag];
  }

  // ---- the writer (mutex_ held) --------------------------------------------

  static extent extent_of(const code& c) noexcept {
    return {c.instruction_start(), c.instruction_start() + (c.instructions_size() - 1)};
  }
  static bool same_chunk(std::uintptr_t a, std::uintptr_t b) noexcept { return (a >> chunk_bits) == (b >> chunk_bits); }
  record_type& record(std::uint32_t ref) noexcept { return records_[ref - 1]; }
  byte_map& bytes_of(std::uint32_t granule_word) noexcept { return byte_maps_[granule_word & ~byte_map_tag]; }

  /// visit(first, last) for the part of `s` in each chunk, in order.
  template <class Visit>
  static void for_each_chunk(extent s, Visit&& visit) {
    for (std::uintptr_t at = s.first;; ++at) {
      const std::uintptr_t last = std::min(at | (chunk_size - 1), s.last);
      visit(at, last);
      if (last == s.last) return;
      at = last;
    }
  }

  /// visit(map, piece) for each granule `s` covers in chunks that have a map.
  template <class Visit>
  void for_each_granule(extent s, Visit&& visit) {
    for_each_chunk(s, [&](std::uintptr_t first, std::uintptr_t last) {
      chunk_map* map = chunks_.find(first);
      if (map == nullptr) return;
      for (std::uintptr_t begin = first & ~granule_mask;; begin += granule_size) {
        const std::uintptr_t granule_last = begin + granule_mask;
        visit(*map, piece{(begin & (chunk_size - 1)) >> granule_bits, begin, std::max(first, begin) - begin,
                          std::min(last, granule_last) - begin + 1, s.last > granule_last});
        if (granule_last >= last) return;
      }
    });
  }

  [[nodiscard]] bool overlaps(std::uint32_t ref, const piece& p) noexcept {
    return ref != 0 && record(ref).begin() < p.begin + p.to && p.begin + p.from < record(ref).end();
  }

  [[nodiscard]] bool covers_any(extent s) noexcept {
    bool covered = false;
    for_each_granule(s, [&](chunk_map& map, const piece& p) {
      const std::uint32_t here = map.words[p.granule].load(std::memory_order_relaxed);
      if (is_byte_map(here)) {
        const byte_map& bytes = bytes_of(here);
        for (std::uintptr_t i = p.from; i < p.to; ++i) covered |= bytes.bytes[i].load(std::memory_order_relaxed) != 0;
      } else {
        covered |= overlaps(here, p) || overlaps(head_of(map.words[p.granule + 1].load()), p);
      }
    });
    return covered;
  }

  /// Everything `s` needs that may fail to allocate, so that nothing can
  /// fail once readers may see part of it: a map for each chunk, a byte map
  /// if the code is inside one granule behind its first byte, a record.
  [[nodiscard]] result<std::uint32_t> reserve(extent s) noexcept {
    bool attached = true;
    for_each_chunk(s, [&](std::uintptr_t at, std::uintptr_t) {
      if (attached && chunks_.find(at) == nullptr) attached = attach_chunk_map(at);
    });
    const bool in_one_granule = (s.first & ~granule_mask) == (s.last & ~granule_mask);
    if (attached && in_one_granule && (s.first & granule_mask) != 0 && spare_byte_map_ == no_byte_map) {
      const result<std::uint32_t> spare = byte_maps_.take();
      if (spare)
        spare_byte_map_ = *spare;
      else
        attached = false;
    }
    const result<std::uint32_t> index =
        attached ? records_.take() : result<std::uint32_t>{failure{errc::out_of_memory}};
    if (!index) {
      release_empty_chunks(s);
      return forward_error(index);
    }
    return *index + 1;
  }

  [[nodiscard]] bool attach_chunk_map(std::uintptr_t at) noexcept {
    chunk_map* map = free_chunk_maps_;
    if (map != nullptr) {
      free_chunk_maps_ = map->next_free;
    } else {
      map = new (std::nothrow) chunk_map{};
      if (map == nullptr) return false;
      map->next_allocated = std::exchange(all_chunk_maps_, map);
      ++chunk_maps_allocated_;
    }
    if (!chunks_.attach(at, map)) {
      map->next_free = std::exchange(free_chunk_maps_, map);
      return false;
    }
    ++chunk_maps_in_use_;
    return true;
  }

  /// Chunk maps in `s` that no code covers leave level one and wait for
  /// reuse. They are all zero again, so reuse needs no clearing, and a
  /// reader still inside one only finds records that fail its range check.
  void release_empty_chunks(extent s) noexcept {
    for_each_chunk(s, [&](std::uintptr_t at, std::uintptr_t) {
      chunk_map* map = chunks_.find(at);
      if (map == nullptr || map->codes != 0) return;
      chunks_.detach(at);
      map->next_free = std::exchange(free_chunk_maps_, map);
      --chunk_maps_in_use_;
    });
  }

  void mark(chunk_map& map, const piece& p, std::uint32_t ref) noexcept {
    const std::uint32_t here = map.words[p.granule].load(std::memory_order_relaxed);
    if (is_byte_map(here)) return fill(bytes_of(here), p.from, p.to, ref);
    if (p.from == 0) return map.words[p.granule].store(ref);
    if (p.runs_past) return;  // the next granule's head, or the chunk's last word
    fill(add_byte_map(map, p), p.from, p.to, ref);
  }

  void unmark(chunk_map& map, const piece& p, std::uint32_t ref) noexcept {
    const std::uint32_t here = map.words[p.granule].load(std::memory_order_relaxed);
    if (!is_byte_map(here)) {
      if (here == ref) map.words[p.granule].store(0);
      return;
    }
    byte_map& bytes = bytes_of(here);
    fill(bytes, p.from, p.to, 0);
    // Only an empty granule gives its byte map back: while code covers any
    // byte of it, a reader that read the word earlier may still rely on it.
    for (const word& b : bytes.bytes) {
      if (b.load(std::memory_order_relaxed) != 0) return;
    }
    map.words[p.granule].store(0);
    byte_maps_.give_back(here & ~byte_map_tag);
  }

  /// Gives the granule of `p` the spare byte map, filled with the head and
  /// the code running past the granule, and publishes it.
  byte_map& add_byte_map(chunk_map& map, const piece& p) noexcept {
    const std::uint32_t index = std::exchange(spare_byte_map_, no_byte_map);
    byte_map& bytes = byte_maps_[index];
    const std::uint32_t head = map.words[p.granule].load(std::memory_order_relaxed);
    if (head != 0) fill(bytes, 0, std::min<std::uintptr_t>(record(head).end() - p.begin, granule_size), head);
    const std::uint32_t next = head_of(map.words[p.granule + 1].load(std::memory_order_relaxed));
    if (next != 0 && record(next).begin() - p.begin - 1 < granule_mask) {
      fill(bytes, record(next).begin() - p.begin, granule_size, next);
    }
    map.words[p.granule].store(byte_map_tag | index);
    return bytes;
  }

  static void fill(byte_map& bytes, std::uintptr_t from, std::uintptr_t to, std::uint32_t ref) noexcept {
    for (std::uintptr_t i = from; i < to; ++i) bytes.bytes[i].store(ref);
  }

  address_radix<chunk_map, chunk_bits, Concurrent> chunks_;
  recycling_pool<record_type, Concurrent> records_;
  recycling_pool<byte_map, Concurrent> byte_maps_;
  mutable writer_mutex<Concurrent> mutex_;
  std::uint32_t spare_byte_map_ = no_byte_map;
  chunk_map* free_chunk_maps_ = nullptr;
  chunk_map* all_chunk_maps_ = nullptr;
  std::size_t chunk_maps_in_use_ = 0;
  std::size_t chunk_maps_allocated_ = 0;
  std::size_t size_ = 0;
};

}  // namespace jitcm::lookup::detail
