// jitcm::code: one compiled function, wrapper or jump table, with its metadata.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string_view>

#include "address_region.hpp"
#include "error.hpp"
#include "result.hpp"
#include "tier.hpp"

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

  [[nodiscard]] std::optional<std::uint32_t> index() const noexcept {
    if (index_ == no_index) return std::nullopt;
    return index_;
  }
  [[nodiscard]] code_kind kind() const noexcept { return kind_; }
  [[nodiscard]] jitcm::tier tier() const noexcept { return tier_; }
  [[nodiscard]] debug_kind for_debugging() const noexcept { return debug_; }
  /// The debug flag: true for any code compiled for a debugger.
  [[nodiscard]] bool is_debug_code() const noexcept { return debug_ != debug_kind::none; }
  [[nodiscard]] std::string_view name() const noexcept {
    return {reinterpret_cast<const char*>(metadata_.get()) + name_offset(), name_size_};
  }
  [[nodiscard]] void* owner() const noexcept { return owner_; }

  [[nodiscard]] std::span<const std::uint32_t> protected_instructions() const noexcept {
    return {reinterpret_cast<const std::uint32_t*>(metadata_.get() + protected_offset()), protected_count_};
  }
  /// True if `pc` is the address of one of the protected instructions.
  /// O(log n); false for any pc outside the instructions.
  [[nodiscard]] bool is_protected_instruction(std::uintptr_t pc) const noexcept {
    if (!contains(pc)) return false;
    const auto offsets = protected_instructions();
    return std::binary_search(offsets.begin(), offsets.end(), static_cast<std::uint32_t>(pc - instruction_start()));
  }

  /// The `.eh_frame` entries of code_desc::unwind_info (FDE locations
  /// relative to the code's start); empty when the JIT gave none.
  [[nodiscard]] std::span<const std::byte> unwind_info() const noexcept {
    if (!has_unwind_info_) return {};
    return {metadata_.get() + unwind_offset() + sizeof(std::uint32_t), unwind_info_size()};
  }

  [[nodiscard]] std::span<const source_position> source_positions() const noexcept {
    return {reinterpret_cast<const source_position*>(metadata_.get()), source_position_count_};
  }
  /// The source position at or before `code_offset`: the entry with the
  /// largest code offset not above it. None when `code_offset` lies before
  /// the first entry or outside the instructions. O(log n).
  [[nodiscard]] std::optional<source_position> source_position_before(std::size_t code_offset) const noexcept {
    if (code_offset >= instructions_size()) return std::nullopt;
    const auto positions = source_positions();
    const auto after =
        std::upper_bound(positions.begin(), positions.end(), code_offset,
                         [](std::size_t offset, const source_position& entry) { return offset < entry.code_offset; });
    if (after == positions.begin()) return std::nullopt;
    return *(after - 1);
  }

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
  std::unique_ptr<std::byte[]> metadata_;
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
[[nodiscard]] inline std::error_code check_eh_frame_entries(std::span<const std::byte> entries) noexcept {
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

inline result<std::unique_ptr<code>> code::create(const code_desc& desc) noexcept {
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
