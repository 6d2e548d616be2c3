// The values a native_module takes and gives: how a module is declared, what
// publishing and removing code made, a module's counters, and the finished
// code add_code copies in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "allocator/code_block.hpp"
#include "allocator/options.hpp"
#include "base/code.hpp"
#include "jump_table/lazy_trampoline.hpp"
#include "jump_table/table_view.hpp"

namespace jitcm {

/// How a module is declared.
struct module_options {
  /// Functions the module declares, imports included.
  std::uint32_t functions = 0;
  /// Functions [0, imported) are imports: they have no code, no slot and no
  /// code-table entry (as in V8). imported <= functions.
  std::uint32_t imported = 0;
  /// What runs when a function without code is called: `lazy.function(
  /// lazy.context, index)` compiles (or finds) the function and returns the
  /// address to continue at, on the calling thread, with the caller's
  /// arguments preserved. Each module has its own, so several modules and
  /// libraries in one process never see each other's lazy calls. Several
  /// threads may enter it at once for one index; the idiom that is safe under
  /// every ref-counting policy is to publish, then return `call_target(index)`
  /// (the slot, which now leads to whichever code was installed), never the
  /// address of the code just published (it may not have been installed, and
  /// then may already be freed). Needs an emitter with machine-code slots and
  /// jump_table::has_lazy_trampoline.
  jump_table::lazy_compile_callback lazy{};
  /// Instead of `lazy`: a raw entry the lazy slots jump to with the function
  /// index alone (the emitter's ABI; for tables of pointers, what the cells of
  /// functions without code hold). Exactly one of `lazy` and `lazy_entry` is
  /// required when the module declares functions beyond its imports.
  std::uintptr_t lazy_entry = 0;
  /// Committed bytes of this module alone; 0 for no limit of its own (the
  /// manager's maximum still applies).
  std::size_t max_committed = 0;
  /// Size of the module's first code space (V8's code-size estimate), raised
  /// to what its jump tables and first code need; 0: the allocator's
  /// min_code_space_size (32 MiB for jitcm's allocators). A JIT with many
  /// small modules sets it, so that each reserves what it will use.
  std::size_t initial_reservation = 0;
  /// No code space of the module is larger; lowered to what the jump-table
  /// emitter's slots reach (jump_table::emitter_traits::max_code_space_size).
  std::size_t max_code_space_size = allocator::default_max_code_space_size;
  /// How jump-table slots are retargeted. Empty: jump_table::routing::far_only
  /// when the allocator's write scopes take execute permission away (what
  /// the allocator declares, `write_revokes_execute()`), so that retargeting
  /// never changes the protection of a page other threads may be running;
  /// routing::near otherwise. routing::near with such an allocator is
  /// refused (invalid_argument).
  std::optional<jump_table::routing> routing{};
  /// Where the module's code spaces should lie (allocator::options::
  /// preferred_range): e.g. platform::within_reach of the runtime its code
  /// calls directly. Empty: anywhere.
  address_region preferred_range{};
};

/// What `publish` and `add_code` made of one piece of code.
struct published_code {
  /// The new code object, held in the calling thread's innermost
  /// ref-counting scope (valid until that scope ends); nullptr when the
  /// ref-counting policy needs a scope to hold code and the thread has none
  /// open. Publishing happened either way.
  const jitcm::code* code = nullptr;
  /// Whether the code was installed: its function's slot now leads to it.
  /// False for code the tiering policy did not install (then it was retired
  /// at once) and for wrappers, which have no slot.
  bool installed = false;
};

/// What `remove_code` and `remove` took out of the code table.
struct removed_code {
  std::size_t count = 0;           ///< code objects removed
  std::size_t code_bytes = 0;      ///< bytes of their instructions
  std::size_t metadata_bytes = 0;  ///< bytes of their metadata
  friend constexpr bool operator==(const removed_code&, const removed_code&) noexcept = default;
};

/// A module's counters. `code_objects` counts code the module still owns:
/// live code and retired code the ref-counting policy has not released.
struct module_stats {
  std::uint32_t functions = 0;
  std::uint32_t imported = 0;
  std::size_t code_objects = 0;
  std::size_t installed = 0;         ///< functions whose slot runs compiled code (not the lazy-compile slot)
  std::size_t retired = 0;           ///< left the table, waiting to be released
  std::size_t code_bytes = 0;        ///< instructions of the code objects owned now
  std::size_t metadata_bytes = 0;    ///< metadata of the code objects owned now
  std::size_t published = 0;         ///< code objects published since creation
  std::size_t freed = 0;             ///< code objects released since creation
  std::size_t jump_table_bytes = 0;  ///< code and data headers of all code spaces
  allocator_stats memory{};
};

/// Finished machine code for `native_module::add_code`: the bytes, and the
/// description of the code object to create. `desc.instructions` is ignored
/// (the module fills in the final address); `desc.owner` too.
struct finished_code {
  std::span<const std::byte> bytes;
  code_desc desc;
};

/// The relocation callback `add_code` runs when none is given.
struct no_relocation {
  void operator()(const finished_code&, std::span<std::byte>, std::uintptr_t) const noexcept {}
};

}  // namespace jitcm
