// lookup::segment_map: the default lookup — a two-level segment map that
// finds the code containing a pc in constant time, wait-free for readers.
#pragma once

#include "detail/basic_segment_map.hpp"

namespace jitcm::lookup {

/// Program counter → code in a fixed number of dependent loads, whatever
/// the number of code objects, as CoreCLR (RangeSectionMap + nibble map)
/// and HotSpot (code heap segment map) do it:
///
/// - level one, a radix tree over the address space at the granularity of
///   aligned 1 MiB chunks, built lazily as code is inserted (the lookup
///   sees code objects, never the allocator's code spaces);
/// - level two, per chunk, one 32-bit word per 64-byte granule naming the
///   record of the code that covers the granule's first byte. A granule in
///   which code starts and ends without covering its first byte (never the
///   case with an aligned allocator) gets a map with one entry per byte.
///
/// Each record keeps the code's range beside its pointer, so `find`
/// confirms containment without touching the code object, which may be
/// erased and freed meanwhile. Details: detail/basic_segment_map.hpp.
///
/// | operation   | cost | notes |
/// |-------------|------|-------|
/// | `find(pc)`  | O(1): 4 radix levels, a word, one or two records | wait-free, async-signal-safe, writes nothing shared |
/// | `insert(c)` | O(size / 64 bytes), plus an overlap check of the same cost | errors: invalid_argument (null), overlapping_region, limit_exceeded (over `max_code_size`, 1 GiB), out_of_memory; on error nothing changed |
/// | `erase(c)`  | O(size / 64 bytes) | error: not_owned; no grace period |
/// | `size()`, `memory_usage()` | O(1) | take the writer lock |
///
/// Thread safety: every member may be called from any thread concurrently
/// with any other. `insert` and `erase` serialise on a mutex. `find` takes
/// no lock, performs no atomic read-modify-write and stores nothing (no
/// reader counts), never blocks, never loops on a retry, and never
/// dereferences a code object, so it is async-signal-safe and may interrupt
/// a writer on the same thread. A `find` that overlaps an `insert` or
/// `erase` of the code containing pc returns that code or nullptr; code that
/// stays inserted throughout a `find` is always found; `find` never returns
/// code that does not contain pc, nor code whose `erase` returned before
/// the `find` began. Whether a pointer `find` returned may still be used is
/// the ref-counting policy's business.
///
/// Reclamation, without grace periods: what a reader may be inside is
/// reused, never freed, until the lookup is destroyed. Records are reused
/// for other code and carry a sequence number, so a reader that meets one
/// being rewritten treats it as no code; a chunk map goes back to a free
/// list when its last code goes (all zero again, so a stale reader only
/// finds nothing there) and serves the next chunk that needs one; a byte
/// map is given back once its granule is empty. So the memory held is
/// bounded by the peak number of chunks, codes and crowded granules in use
/// at once (`memory_usage()`), plus the radix nodes for every 2 GiB region
/// ever used (16 KiB each).
///
/// Memory: 64 KiB per 1 MiB chunk that holds code (1/16 of the code's
/// address range), 32 bytes per code, 16 KiB inline in the object.
///
///     jitcm::lookup::segment_map codes;
///     if (!codes.insert(c)) { /* overlap or out of memory */ }
///     const jitcm::code* owner = codes.find(pc);  // from a signal handler too
///     (void)codes.erase(c);
class segment_map : public detail::basic_segment_map<true> {
 public:
  /// `find` may be called from a signal handler (see the lookup concept).
  static constexpr bool async_signal_safe = true;
};

}  // namespace jitcm::lookup
