// native_module: a set of functions compiled together — their code, the code
// table, one jump table per code space, and lazy-compile slots (V8's
// NativeModule).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <utility>
#include <vector>

#include "detail/assert.hpp"
#include "base/address_region.hpp"
#include "allocator/code_block.hpp"
#include "allocator/allocator_traits.hpp"
#include "allocator/concept.hpp"
#include "base/code.hpp"
#include "base/config.hpp"
#include "detail/code_registry.hpp"
#include "detail/code_table.hpp"
#include "detail/jump_table_set.hpp"
#include "detail/late.hpp"
#include "detail/manager_services.hpp"
#include "detail/module_layout.hpp"
#include "detail/pending_code.hpp"
#include "detail/size_chunks.hpp"
#include "fwd.hpp"
#include "jump_table/emitter_traits.hpp"
#include "jump_table/table_view.hpp"
#include "module_options.hpp"
#include "platform/fault_injection.hpp"
#include "refcount/free_callback.hpp"
#include "base/result.hpp"
#include "tiering/concept.hpp"

namespace jitcm {

/// A set of functions compiled together, and all the code compiled for them.
///
/// Functions [imported, functions) have a slot in a jump table at the start of
/// every code space; `call_target(i)` is the slot in the first space's table,
/// an address that never changes: callers call it, and installing new code
/// retargets the slot (in every table) instead of patching callers. Until a
/// function has code its slot runs its lazy-compile slot, which enters
/// `module_options::lazy_entry` with the function index.
///
///     jitcm::code_manager manager;
///     auto module = manager.new_module({.functions = 10, .lazy_entry = entry});
///     auto room = (*module)->allocate(size);      // the final address is known
///     emit(room->writable(), room->executable());        // assemble in place
///     auto code = (*module)->publish(*room, {.index = 3, .tier = jitcm::tiering::two_tier::baseline});
///     auto f = reinterpret_cast<int (*)()>(*(*module)->call_target(3));
///
/// Adding code: `allocate` → write at the final address (`pending_code`) →
/// `publish`; or `add_code` with finished bytes and an optional relocation
/// callback. Either way the tiering policy decides whether new code replaces
/// the installed code. Code that leaves the code table (replaced, removed,
/// or never installed) is retired to the ref-counting policy, which frees it
/// once no thread may still run it (see refcount/concept.hpp); it stays
/// findable by `lookup` until then.
///
/// Pointers to code returned by the module (publish, add_code, installed)
/// are held in the calling thread's innermost ref-counting scope
/// (`RefCounting::scope`, e.g. refcount::code_ref_scope) and valid until it
/// ends, under every ref-counting policy; without an open scope, a policy
/// that needs one returns no pointer (publish: a null `code`; installed:
/// errc::scope_required). refcount::never needs no scope: its code lives as
/// long as the module. Code a thread entered through a slot is protected by
/// the policy's rule for slot calls (see its header; refcount::atomic_counts
/// has none).
///
/// Destroying the module frees all its code at once, even code a scope
/// still holds: those scopes end later without touching it (the ref-counting
/// policies guarantee this). Running the module's code after destroying the
/// module is a use-after-free of the embedder's making, as in V8.
///
/// Thread safety: every member may be called from any thread concurrently,
/// except as noted; the module serialises changes with one mutex.
/// call_target and the functions/imported/routing accessors take no lock.
/// Threads keep running published code while others publish, retarget,
/// remove, collect and flush: the module routes slots far (one data store
/// per retarget) whenever the allocator's write scopes take execute
/// permission away, and such allocators give every block pages of its own,
/// so a write scope never covers a page that holds published code.
///
/// Lock order (the one place it is written down): manager's module list
/// (only to copy it or to add and remove a module) → module `mutex_` →
/// allocator's lock → a code space's write lock (mprotect strategies: only
/// for a space no pending_code can be in yet, when a later space's tables are
/// set up; the first space's are written before the module is shared).
/// A pending_code holds its space's write lock (mprotect strategies) and no
/// other lock, so a thread holding one may call any module or manager member
/// except writing into the same space again from another pending_code.
/// Ref-counting policies release code with their own lock held and then
/// take the module's `mutex_`; the module never calls them with `mutex_` held
/// except `hold`, which takes no lock.
///
/// Modules are created by basic_code_manager::new_module.
template <class Allocator, class JumpTable, class Lookup, class Tiering, class RefCounting>
class native_module {
 public:
  using allocator_type = Allocator;
  using jump_table_type = JumpTable;
  using lookup_type = Lookup;
  using tiering_type = Tiering;
  using ref_counting_type = RefCounting;
  using block = typename Allocator::block;
  using tiering_state = typename Tiering::module_state;
  using removal_filter = typename Tiering::removal_filter;
  using manager_services = detail::manager_services<Lookup>;

  /// Room for code at its final address, open for writing (see allocate).
  using pending_code = detail::pending_code<native_module, Allocator>;

  /// Creates a module whose code lives in a fresh allocator. Reserves the
  /// first code space and writes its jump table, so call_target works at
  /// once. Errors, all found before anything is allocated: invalid_argument
  /// (imported > functions; a module with functions and neither or both of
  /// `lazy` and `lazy_entry`; routing::near with an allocator whose write
  /// scopes revoke execute permission), unsupported (`lazy` with an emitter
  /// without machine-code slots, or without a lazy trampoline here),
  /// limit_exceeded (more functions than the emitter supports, jump tables
  /// larger than a code space, or than max_committed or the manager's
  /// maximum). Then the allocator's and the emitter's errors.
  [[nodiscard]] static result<std::unique_ptr<native_module>> create(const manager_services& services,
                                                                     const module_options& options) noexcept;

  native_module(const native_module&) = delete;
  native_module& operator=(const native_module&) = delete;
  ~native_module();

  [[nodiscard]] std::uint32_t functions() const noexcept { return options_.functions; }
  [[nodiscard]] std::uint32_t imported() const noexcept { return options_.imported; }
  [[nodiscard]] jump_table::routing routing() const noexcept { return tables_.routing(); }
  /// No code space of the module is larger: every slot reaches every
  /// instruction of its space.
  [[nodiscard]] std::size_t max_code_space_size() const noexcept { return layout::max_code_space_size(options_); }

  /// The stable address callers call for function `index` (for an emitter
  /// without machine code, jump_table::portable, the address of the pointer
  /// cell to load and call). Errors: out_of_range unless imported <= index <
  /// functions.
  [[nodiscard]] result<std::uintptr_t> call_target(std::uint32_t index) const noexcept {
    if (!declared(index)) return failure{errc::out_of_range};
    return tables_.call_target(slot_of(index));
  }

  /// The slot of function `index` in the jump table of the code space that
  /// holds `caller` (code of this module): always within near-branch reach
  /// of the caller, so code can call it with a direct branch. Errors:
  /// out_of_range (index, or `caller` in none of the module's code spaces).
  [[nodiscard]] result<std::uintptr_t> call_target_near(std::uint32_t index, std::uintptr_t caller) const;

  /// The code installed for function `index` now, or nullptr while its slot
  /// runs the lazy-compile slot; held in the calling thread's innermost
  /// scope. Errors: out_of_range; scope_required (the ref-counting policy
  /// needs a scope to hold code and the thread has none).
  [[nodiscard]] result<const code*> installed(std::uint32_t index) const;

  /// Room for `bytes` of code at its final address: write the instructions
  /// through `pending_code::writable()` (a write scope is open), then `publish`.
  /// A pending_code dropped without publishing gives its memory back.
  /// Under the mprotect strategies the open scope holds the code space's
  /// write lock until publish (or end_write): other threads writing into the
  /// same space wait for it; any other call, from any thread, goes ahead.
  /// Errors: the allocator's (invalid_argument for 0 bytes, limit_exceeded,
  /// ...); nothing changed on error.
  [[nodiscard]] result<pending_code> allocate(std::size_t bytes);

  /// Turns written code into a code object described by `desc` (its
  /// `instructions` may be left empty for the whole block, or name the
  /// block's start with a size up to the block's; `owner` is set by the
  /// module), makes it findable, tells the observers, and installs it if the
  /// tiering policy says so. Returns the code (held as described above) and
  /// whether it was installed.
  /// Errors: already_published, not_owned (pending from another module),
  /// out_of_range (index outside [imported, functions), or instructions
  /// beyond the block), invalid_argument (a function without an index, or a
  /// tier the tiering policy does not know), and code::create's, the
  /// lookup's and the jump table's errors. On error nothing changed: no code
  /// object exists, the old code stays installed, every slot leads where it
  /// did, and the pending code keeps its memory (publish it again, or drop
  /// it). The write scope has ended either way (a refused end is the error).
  [[nodiscard]] result<published_code> publish(pending_code& pending, const code_desc& desc);

  /// Copies finished code into the module and publishes it: the batch is cut
  /// into chunks of at most half a code space; each chunk is allocated, then
  /// copied inside one write scope per code space it touches, and
  /// `relocate(item, writable_bytes, final_address)` runs on each piece after
  /// its copy, inside that scope. Returns what publish would for each item,
  /// in batch order.
  /// Errors: out_of_range / invalid_argument for a bad item (found before
  /// anything is allocated), the allocator's errors, publish's; the items
  /// published before the failing one stay published (and are not
  /// returned), the failing one and the rest of the batch are not, and their
  /// memory is given back.
  /// Relocate: callable as `relocate(const finished_code&, std::span<std::byte>
  /// writable, std::uintptr_t final_address)`.
  template <class Relocate = no_relocation>
  [[nodiscard]] result<std::vector<published_code>> add_code(std::span<const finished_code> batch,
                                                             Relocate&& relocate = {});

  /// Takes every installed code the tiering policy matches with `filter` out
  /// of the code table, points its slots back at the lazy-compile slots and retires
  /// it. Returns what was removed. (A slot whose jump table refuses the
  /// patch keeps its code installed, and that code is not counted.)
  removed_code remove_code(const removal_filter& filter);

  /// Takes one code object out of use: out of the code table if installed
  /// (its slot back to the lazy-compile slot), then retired. For wrappers
  /// too. Errors: not_owned (null, or code of another module), double_free
  /// (already retired).
  [[nodiscard]] result<removed_code> remove(const code* c);

  /// The memory-pressure flush: remove_code(tiering policy's memory_pressure_filter()).
  removed_code flush_for_memory_pressure() { return remove_code(tiering_.memory_pressure_filter()); }

  /// Reports the code the embedder's stacks still run; retired code the
  /// ref-counting policy lets go is freed now. Returns how many were freed.
  std::size_t collect(std::span<const code* const> live);

  /// The state the tiering policy decides on (e.g. whether a debugger is attached).
  [[nodiscard]] tiering_state tiering() const {
    std::lock_guard lock{mutex_};
    return tiering_state_;
  }
  void set_tiering(const tiering_state& state) {
    std::lock_guard lock{mutex_};
    tiering_state_ = state;
  }

  /// Whether `address` lies in one of the module's code spaces.
  [[nodiscard]] bool contains(std::uintptr_t address) const { return allocator_.contains(address); }

  [[nodiscard]] module_stats stats() const;

  /// The ref-counting policy, for embedders that need its extras.
  [[nodiscard]] RefCounting& ref_counting() noexcept { return *ref_counting_; }

  /// The code of this module whose instructions contain `pc`, held in the
  /// calling thread's innermost scope; nullptr if there is none, if it is
  /// being freed, or if the policy needs a scope and the thread has none.
  /// (basic_code_manager::lookup(pc, scope) finds the module and calls this.)
  [[nodiscard]] const code* find_and_hold(std::uintptr_t pc) const;

 private:
  friend pending_code;
  using registry = detail::code_registry<block>;
  using owned_code = typename registry::entry;
  using layout = detail::module_layout<JumpTable>;
  using tables = typename layout::tables;
  using retire_list = std::vector<const code*>;

  explicit native_module(const manager_services& services, const module_options& options) noexcept
      : services_{services},
        options_{options},
        allocator_{layout::allocator_limits(options, services.budget)},
        tables_{options.functions - options.imported, options.imported, options.lazy, options.lazy_entry},
        ref_counting_{std::in_place, refcount::free_callback{&free_thunk, this}} {}

  [[nodiscard]] result<void> check_desc(const code_desc& desc) const noexcept;

  [[nodiscard]] bool declared(std::uint32_t index) const noexcept {
    return index >= options_.imported && index < options_.functions;
  }
  [[nodiscard]] std::uint32_t slot_of(std::uint32_t index) const noexcept { return index - options_.imported; }
  [[nodiscard]] std::uint32_t slots() const noexcept { return options_.functions - options_.imported; }
  [[nodiscard]] auto write_scopes() noexcept {
    return [this](address_region r) { return allocator_.begin_write(r); };
  }

  // Everything below with a `_locked` suffix runs with mutex_ held.
  [[nodiscard]] result<block> allocate_locked(std::size_t bytes);
  [[nodiscard]] result<void> set_up_new_spaces_locked();
  /// Retargets `slot` in every table and the code table. On error every table
  /// is put back (the failing one too: an emitter may report a refused
  /// protection restore after its store); `stranded` is set if one could not
  /// be, and then some table may still lead to `target`.
  [[nodiscard]] result<void> retarget_everywhere_locked(std::uint32_t slot, const code* target, bool& stranded);
  /// Creates, registers and (if the tiering policy says so) installs code in
  /// `memory`. `adopted` tells whether the module now owns `memory` (always
  /// on success; on error only if a refused jump-table patch could not be put
  /// back, and the new code, which a slot may lead to, is kept until the
  /// module goes).
  [[nodiscard]] result<published_code> adopt_locked(code_desc desc, const block& memory, retire_list& retired,
                                                    bool& adopted);
  [[nodiscard]] result<void> take_out_locked(owned_code& entry, removed_code& removed, retire_list& retired);

  /// Hands code to the ref-counting policy. Never with mutex_ held: the
  /// policy may release the code (and so take mutex_) on the spot.
  void retire(const retire_list& retired) {
    for (const code* c : retired) ref_counting_->retire(*c);
  }
  void committed_may_have_grown() const noexcept {
    if (services_.committed_grew != nullptr) services_.committed_grew(services_.manager);
  }

  static void free_thunk(void* self, const code& dead) noexcept { static_cast<native_module*>(self)->free_code(dead); }
  void free_code(const code& dead) noexcept;
  void forget_locked(owned_code& entry) noexcept;

  // Set once by create, before the module is handed out; read without a lock.
  manager_services services_;
  module_options options_;
  Allocator allocator_;
  JITCM_NO_UNIQUE_ADDRESS Tiering tiering_{};

  // These fields are guarded by mutex_. The code table's entries are also
  // read without it, with acquire loads: they are written with release
  // stores under it. tables_ is guarded by it too, except what the set
  // reads without a lock (call_target, routing; see jump_table_set).
  mutable std::mutex mutex_;
  tiering_state tiering_state_{};
  detail::code_table code_table_;
  tables tables_;
  registry owned_;
  std::size_t published_count_ = 0;
  std::size_t freed_count_ = 0;
  // Reset first in the destructor: once the policy is gone no release
  // callback runs (or will run) while the module tears down its code.
  mutable detail::late<RefCounting> ref_counting_;
};

}  // namespace jitcm

// The members' definitions: creation and teardown, then publish and retire.
#include "impl/native_module.ipp"  // IWYU pragma: export
