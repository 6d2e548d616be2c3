// jitcm::code: one compiled function, wrapper or jump table, with its metadata.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "address_region.hpp"
#include "config.hpp"
#include "error.hpp"
#include "result.hpp"
#include "tier.hpp"
#include "detail/owned_array.hpp"

namespace jitcm {

/// What a code object is.
enum class code_kind : std::uint8_t {
  function,    ///< a compiled function; always has a function index
  wrapper,     ///< a wrapper or trampoline (entry and exit wrappers, lazy-compile trampolines, ...)
  jump_table,  ///< a module's jump table (or far-jump table)
};

/// One entry of a code object's source position table: the instruction at
/// `code_offset` (from the start of the code) belongs to `source_offset` in
/// whatever source the JIT compiled (a bytecode offset, a line, ...).
struct source_position {
  std::uint32_t code_offset = 0;
  std::uint32_t source_offset = 0;

  friend constexpr bool operator==(source_position, source_position) noexcept = default;
};

/// Everything needed to create a code object. The spans are copied: the
/// caller's arrays may go away once `code::create` returns.
struct code_desc {
  address_region instructions{};       ///< where the code is executed from
  std::optional<std::uint32_t> index;  ///< function index; none for wrappers and trampolines
  code_kind kind = code_kind::function;
  jitcm::tier tier{};  ///< named by the tiering policy
  debug_kind debug = debug_kind::none;
  std::string_view name{};  ///< for debuggers and profilers; copied
  /// Offsets (from the instructions' start) of instructions allowed to fault
  /// (out-of-bounds memory accesses handled by a trap handler): strictly
  /// increasing, each inside the instructions.
  std::span<const std::uint32_t> protected_instructions{};
  /// Strictly increasing code offsets, each inside the instructions.
  std::span<const source_position> source_positions{};
  /// How to unwind through the code: `.eh_frame` entries (a CIE, then the
  /// FDEs that use it; no zero terminator), whose FDEs encode their initial
  /// location as DW_EH_PE_absptr relative to the code's first instruction
  /// (0 is the code's start), since the final address may not be known when
  /// the bytes are made. observe::unwind_registry and the jitdump writer
  /// rebase them; observe::eh_frame::build makes them for common frame
  /// shapes. Each entry: a 4-byte length (not 0, not 0xffffffff) that stays
  /// inside the span, which is a multiple of 4 bytes long.
  std::span<const std::byte> unwind_info{};
  /// Whoever created the code (normally its native_module); jitcm never
  /// dereferences it.
  void* owner = nullptr;
};

/// One piece of generated code: where its instructions are, what it is, and
/// the metadata stack walkers, trap handlers and debuggers ask about.
///
/// Size: 56 bytes on 64-bit hosts (V8's WasmCode allows 104), plus one owned
/// allocation of `metadata_bytes()` that holds the source positions, the
/// protected-instruction offsets, the unwind info and the name back to back.
///
/// A code object does not own its instructions: the module that allocated
/// them frees them when the code is freed.
///
/// Thread safety: immutable after `create` except for the reference count,
/// which is atomic; every member may be called from any thread at any time.
/// Nothing here locks or allocates after `create`, so the accessors are
/// usable from signal handlers.
class code {
 public:
  /// The stored index of code without one (never a valid function index).
  static constexpr std::uint32_t no_index = std::numeric_limits<std::uint32_t>::max();

  /// Validates `desc` and creates the code object. Errors:
  /// - invalid_argument: empty instructions; a function without an index;
  ///   protected offsets or source positions not strictly increasing;
  ///   unwind info whose entry lengths do not tile it (see code_desc);
  /// - size_overflow: the instructions wrap around the address space, or an
  ///   array or the name has more than 2^32-1 entries;
  /// - out_of_range: the index is `no_index`, or an offset lies outside the
  ///   instructions;
  /// - out_of_memory: the allocation failed.
  /// The reference count of a new code object is 1: the reference its
  /// creator (the module's code table) holds.
  [[nodiscard]] static result<std::unique_ptr<code>> create(const code_desc& desc) noexcept;

  code(const code&) = delete;
  code& operator=(const code&) = delete;
  ~code() = default;

  [[nodiscard]] address_region instructions() const noexcept { return instructions_; }
  [[nodiscard]] std::uintptr_t instruction_start() const noexcept { return instructions_.begin(); }
  [[nodiscard]] std::size_t instructions_size() const noexcept { return instructions_.size(); }
  [[nodiscard]] bool contains(std::uintptr_t pc) const noexcept { return instructions_.contains(pc); }

  // index(), name() and the metadata spans are defined in code.ipp: a
  // std::optional, std::span or std::string_view built inline checks its
  // constructors' constraints (contiguous_iterator and the like, about 60M
  // cc1plus instructions for string_view alone) in every TU.
  [[nodiscard]] std::optional<std::uint32_t> index() const noexcept;
  [[nodiscard]] code_kind kind() const noexcept { return kind_; }
  [[nodiscard]] jitcm::tier tier() const noexcept { return tier_; }
  [[nodiscard]] debug_kind for_debugging() const noexcept { return debug_; }
  /// The debug flag: true for any code compiled for a debugger.
  [[nodiscard]] bool is_debug_code() const noexcept { return debug_ != debug_kind::none; }
  [[nodiscard]] std::string_view name() const noexcept;
  [[nodiscard]] void* owner() const noexcept { return owner_; }

  [[nodiscard]] std::span<const std::uint32_t> protected_instructions() const noexcept;
  /// True if `pc` is the address of one of the protected instructions.
  /// O(log n); false for any pc outside the instructions.
  [[nodiscard]] bool is_protected_instruction(std::uintptr_t pc) const noexcept;

  /// The `.eh_frame` entries of code_desc::unwind_info (FDE locations
  /// relative to the code's start); empty when the JIT gave none.
  [[nodiscard]] std::span<const std::byte> unwind_info() const noexcept;

  [[nodiscard]] std::span<const source_position> source_positions() const noexcept;
  /// The source position at or before `code_offset`: the entry with the
  /// largest code offset not above it. None when `code_offset` lies before
  /// the first entry or outside the instructions. O(log n).
  [[nodiscard]] std::optional<source_position> source_position_before(std::size_t code_offset) const noexcept;

  /// Bytes of the one metadata allocation (positions, offsets, unwind info, name).
  [[nodiscard]] std::size_t metadata_bytes() const noexcept { return name_offset() + name_size_; }

  // The reference count, for ref-counting policies (see refcount/concept.hpp).
  // It changes on const code because holding code alive is not a change of
  // the code, as with std::shared_ptr's control block.

  [[nodiscard]] std::uint32_t ref_count() const noexcept { return ref_count_.load(std::memory_order_acquire); }
  void add_ref() const noexcept { ref_count_.fetch_add(1, std::memory_order_relaxed); }
  /// Adds a reference unless the count already reached zero (the code is
  /// dead and about to be freed): how a thread that found the code without
  /// owning a reference (a lookup) takes one safely. True if it did.
  [[nodiscard]] bool try_add_ref() const noexcept {
    std::uint32_t count = ref_count_.load(std::memory_order_relaxed);
    while (count != 0) {
      if (ref_count_.compare_exchange_weak(count, count + 1, std::memory_order_acquire, std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  /// Drops one reference; true when it was the last one.
  [[nodiscard]] bool drop_ref() const noexcept { return ref_count_.fetch_sub(1, std::memory_order_acq_rel) == 1; }

 private:
  code() noexcept = default;

  [[nodiscard]] std::size_t protected_offset() const noexcept {
    return std::size_t{source_position_count_} * sizeof(source_position);
  }
  [[nodiscard]] std::size_t unwind_offset() const noexcept {
    return protected_offset() + std::size_t{protected_count_} * sizeof(std::uint32_t);
  }
  // The unwind info's size lives in front of it in the metadata (code has
  // one spare byte, not four), so code without it pays nothing.
  [[nodiscard]] std::uint32_t unwind_info_size() const noexcept {
    if (!has_unwind_info_) return 0;
    std::uint32_t size = 0;
    std::memcpy(&size, metadata_.get() + unwind_offset(), sizeof size);
    return size;
  }
  [[nodiscard]] std::size_t name_offset() const noexcept {
    return unwind_offset() + (has_unwind_info_ ? sizeof(std::uint32_t) + unwind_info_size() : 0);
  }

  address_region instructions_;
  // Source positions, then protected offsets, then (if any) the unwind
  // info's 4-byte size and its bytes (a multiple of 4), then the name: all
  // 4-byte aligned, so one allocation serves the four.
  detail::owned_array<std::byte> metadata_;
  void* owner_ = nullptr;
  std::uint32_t index_ = no_index;
  std::uint32_t source_position_count_ = 0;
  std::uint32_t protected_count_ = 0;
  std::uint32_t name_size_ = 0;
  mutable std::atomic<std::uint32_t> ref_count_{1};
  code_kind kind_ = code_kind::function;
  jitcm::tier tier_{};
  debug_kind debug_ = debug_kind::none;
  bool has_unwind_info_ = false;
};

#if UINTPTR_MAX == UINT64_MAX
static_assert(sizeof(code) <= 104, "jitcm::code must stay within V8's WasmCode budget of 104 bytes");
#endif

}  // namespace jitcm

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/code.ipp"  // IWYU pragma: export
#endif
