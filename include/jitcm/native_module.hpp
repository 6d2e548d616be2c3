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
#include <optional>
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
///     emit(room->data(), room->address());        // assemble in place
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
  /// through `pending_code::data()` (a write scope is open), then `publish`.
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
  mutable std::optional<RefCounting> ref_counting_;
};

// ---------------------------------------------------------------------------

template <class A, class J, class L, class T, class R>
result<std::unique_ptr<native_module<A, J, L, T, R>>> native_module<A, J, L, T, R>::create(
    const manager_services& services, const module_options& options) noexcept {
  if (services.lookup == nullptr) return failure{errc::invalid_argument};
  if (auto ok = layout::check(options, services.budget); !ok) return forward_error(ok);
  if (detail::side_allocation_refused()) return failure{errc::out_of_memory};
  std::unique_ptr<native_module> module{new (std::nothrow) native_module{services, options}};
  if (!module) return failure{errc::out_of_memory};
  const bool revokes = allocator::allocator_traits<A>::write_revokes_execute(module->allocator_);
  if (auto ok = module->tables_.choose_routing(options.routing, revokes); !ok) return forward_error(ok);
  if (auto ok = module->tables_.open_lazy_door(); !ok) return forward_error(ok);

  auto table = detail::code_table::create(layout::slots(options));
  if (!table) return forward_error(table);
  module->code_table_ = std::move(*table);

  // The first code space, and with it the table call_target hands out. The
  // allocator reserves a space on its first allocation; that first block is
  // given straight back. No other thread knows the module yet, so mutex_ is
  // not taken: writing the first space's tables takes that space's write
  // lock (mprotect strategies), which a thread holding a pending_code there
  // holds while it may take mutex_ (see the lock order above).
  auto first = module->allocate_locked(1);
  if (!first) return forward_error(first);
  JITCM_ASSERT_CLEANUP(module->allocator_.free(*first));
  module->committed_may_have_grown();
  return module;
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::check_desc(const code_desc& desc) const noexcept {
  if (desc.index && !declared(*desc.index)) return failure{errc::out_of_range};
  if (desc.kind == code_kind::function &&
      (!desc.index || !tiering::tiering_traits<T>::knows_tier(tiering_, desc.tier))) {
    return failure{errc::invalid_argument};
  }
  return {};
}

template <class A, class J, class L, class T, class R>
native_module<A, J, L, T, R>::~native_module() {
  if (services_.module_destroyed != nullptr) services_.module_destroyed(services_.manager, this);
  ref_counting_.reset();
  std::lock_guard lock{mutex_};
  for (owned_code* entry : owned_.by_descending_address()) forget_locked(*entry);
  owned_.clear();
  // The jump tables go with the code spaces.
  if (services_.observers != nullptr && slots() > 0) {
    for (const auto& view : tables_.views()) services_.observers->template jump_table_freed<J>(view);
  }
}

template <class A, class J, class L, class T, class R>
result<std::uintptr_t> native_module<A, J, L, T, R>::call_target_near(std::uint32_t index,
                                                                      std::uintptr_t caller) const {
  if (!declared(index)) return failure{errc::out_of_range};
  std::lock_guard lock{mutex_};
  const auto spaces = allocator_.code_spaces();
  std::size_t space = 0;
  for (const code_space& s : spaces) {
    if (space < tables_.size() && s.region.contains(caller)) {
      return J::call_target(tables_.views()[space], slot_of(index));
    }
    ++space;
  }
  return failure{errc::out_of_range};
}

template <class A, class J, class L, class T, class R>
result<const code*> native_module<A, J, L, T, R>::installed(std::uint32_t index) const {
  if (!declared(index)) return failure{errc::out_of_range};
  std::lock_guard lock{mutex_};
  const code* c = code_table_.load(slot_of(index));
  // Installed code is alive (the table holds it), so hold fails only for want of a scope.
  if (c != nullptr && !ref_counting_->hold(*c)) return failure{errc::scope_required};
  return c;
}

template <class A, class J, class L, class T, class R>
const code* native_module<A, J, L, T, R>::find_and_hold(std::uintptr_t pc) const {
  // Code is freed under mutex_ (free_code), after leaving owned_: what owned_
  // holds now is alive, and hold refuses it once its count reached zero.
  std::lock_guard lock{mutex_};
  const code* c = services_.lookup->find(pc);
  if (c == nullptr || !owned_.contains(c)) return nullptr;
  return ref_counting_->hold(*c) ? c : nullptr;
}

template <class A, class J, class L, class T, class R>
auto native_module<A, J, L, T, R>::allocate_locked(std::size_t bytes) -> result<block> {
  // A space whose tables could not be written earlier gets another chance
  // before any code goes into it.
  if (auto ready = set_up_new_spaces_locked(); !ready) return forward_error(ready);
  auto memory = allocator_.allocate(bytes);
  if (!memory) return memory;
  if (auto ready = set_up_new_spaces_locked(); !ready) {
    JITCM_ASSERT_CLEANUP(allocator_.free(*memory));
    return forward_error(ready);
  }
  return memory;
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::set_up_new_spaces_locked() {
  const auto spaces = allocator_.code_spaces();
  const std::size_t space_count = static_cast<std::size_t>(std::ranges::size(spaces));
  while (tables_.size() < space_count) {
    const code_space& space = *std::next(std::ranges::begin(spaces), static_cast<std::ptrdiff_t>(tables_.size()));
    auto added = tables_.add_space(space, allocator_.writable(space.code_header.begin()),
                                   allocator_.writable(space.data_header.begin()), write_scopes(),
                                   [this](std::uint32_t slot) { return code_table_.target(slot); });
    if (!added) return added;
    // Tools learn the names and addresses of the new jump slots and lazy slots.
    if (services_.observers != nullptr && slots() > 0) {
      services_.observers->template jump_table_added<J>(tables_.views().back());
    }
  }
  return {};
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::retarget_everywhere_locked(std::uint32_t slot, const code* target,
                                                                      bool& stranded) {
  const std::uintptr_t address = detail::code_table::address_of(target);
  if (auto ok = tables_.retarget(slot, address, code_table_.target(slot), write_scopes(), stranded); !ok) return ok;
  code_table_.set(slot, target);
  return {};
}

template <class A, class J, class L, class T, class R>
auto native_module<A, J, L, T, R>::allocate(std::size_t bytes) -> result<pending_code> {
  result<block> memory = failure{errc::invalid_argument};
  {
    std::lock_guard lock{mutex_};
    memory = allocate_locked(bytes);
    if (!memory) return forward_error(memory);
  }
  committed_may_have_grown();
  auto scope = allocator_.begin_write(memory->region());
  if (!scope) {
    std::lock_guard lock{mutex_};
    JITCM_ASSERT_CLEANUP(allocator_.free(*memory));
    return forward_error(scope);
  }
  return pending_code{this, *memory, std::move(*scope)};
}

template <class A, class J, class L, class T, class R>
result<published_code> native_module<A, J, L, T, R>::publish(pending_code& pending, const code_desc& desc) {
  if (pending.published_) return failure{errc::already_published};
  if (pending.module_ != this) return failure{errc::not_owned};
  if (auto ok = check_desc(desc); !ok) return forward_error(ok);
  const block& memory = pending.memory_;
  code_desc final_desc = desc;
  if (desc.instructions.size() == 0) {
    final_desc.instructions = memory.region();
  } else {
    if (desc.instructions.begin() != 0 && desc.instructions.begin() != memory.executable())
      return failure{errc::out_of_range};
    if (desc.instructions.size() > memory.size()) return failure{errc::out_of_range};
    final_desc.instructions = address_region{memory.executable(), desc.instructions.size()};
  }
  // Written code becomes visible to instruction fetch before it can be
  // installed (the scope's end flushes the instruction cache), and the
  // space's write lock is not held while the module's lock is taken.
  if (auto ended = pending.end_write(); !ended) return forward_error(ended);

  retire_list retired;
  result<published_code> published = failure{errc::invalid_argument};
  bool adopted = false;
  {
    std::lock_guard lock{mutex_};
    published = adopt_locked(final_desc, memory, retired, adopted);
  }
  retire(retired);
  pending.published_ = adopted;
  if (services_.observers != nullptr) services_.observers->batch_ended();
  return published;
}

template <class A, class J, class L, class T, class R>
template <class Relocate>
result<std::vector<published_code>> native_module<A, J, L, T, R>::add_code(std::span<const finished_code> batch,
                                                                           Relocate&& relocate) {
  for (const finished_code& item : batch) {
    if (item.bytes.empty()) return failure{errc::invalid_argument};
    if (auto ok = check_desc(item.desc); !ok) return forward_error(ok);
  }
  std::vector<published_code> published;
  published.reserve(batch.size());
  const std::size_t chunk_limit = max_code_space_size() / 2;

  for (const auto chunk :
       detail::size_chunks(batch, chunk_limit, [](const finished_code& item) { return item.bytes.size(); })) {
    std::vector<block> memory;
    memory.reserve(chunk.size());
    {
      std::lock_guard lock{mutex_};
      for (const finished_code& item : chunk) {
        auto room = allocate_locked(item.bytes.size());
        if (!room) {
          for (const block& b : memory) JITCM_ASSERT_CLEANUP(allocator_.free(b));
          return forward_error(room);
        }
        memory.push_back(*room);
      }
    }
    committed_may_have_grown();
    // The blocks are this call's alone until published, so they are written
    // without the module's lock (no lock order between it and the spaces'
    // write locks). One outermost write scope per code space the chunk
    // touches: the nested scopes of one space only add pages to it.
    if (auto copied = detail::copy_batch(allocator_, chunk, memory, relocate); !copied) {
      for (const block& b : memory) JITCM_ASSERT_CLEANUP(allocator_.free(b));
      return forward_error(copied);
    }
    retire_list retired;
    result<void> outcome;
    {
      std::lock_guard lock{mutex_};
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        code_desc desc = chunk[i].desc;
        desc.instructions = address_region{memory[i].executable(), chunk[i].bytes.size()};
        bool adopted = false;
        auto c = adopt_locked(desc, memory[i], retired, adopted);
        if (!c) {
          for (std::size_t rest = adopted ? i + 1 : i; rest < chunk.size(); ++rest)
            JITCM_ASSERT_CLEANUP(allocator_.free(memory[rest]));
          outcome = forward_error(c);
          break;
        }
        published.push_back(*c);
      }
    }
    retire(retired);
    if (services_.observers != nullptr) services_.observers->batch_ended();
    if (!outcome) return forward_error(outcome);
  }
  return published;
}

template <class A, class J, class L, class T, class R>
result<published_code> native_module<A, J, L, T, R>::adopt_locked(code_desc desc, const block& memory,
                                                                  retire_list& retired, bool& adopted) {
  if (auto ok = check_desc(desc); !ok) return forward_error(ok);
  desc.owner = this;
  auto created = code::create(desc);
  if (!created) return forward_error(created);
  const code* c = created->get();
  // Every step that can fail comes before the module takes the memory; each
  // undoes what came before it, so an error leaves no trace.
  if (auto registered = services_.lookup->insert(c); !registered) return forward_error(registered);
  const bool is_function = c->kind() == code_kind::function;
  const std::uint32_t slot = is_function ? slot_of(*c->index()) : 0;
  const code* current = is_function ? code_table_.at(slot) : nullptr;
  const bool install = is_function && tiering_.should_install(*c, current, tiering_state_);
  result<void> installed;
  bool stranded = false;
  if (install) installed = retarget_everywhere_locked(slot, c, stranded);
  if (!installed && !stranded) {
    JITCM_ASSERT_CLEANUP(services_.lookup->erase(c));
    return forward_error(installed);
  }
  // From here on the module owns the memory.
  adopted = true;
  owned_.adopt(std::move(*created), memory);
  ++published_count_;
  if (services_.observers != nullptr) services_.observers->added(*c);
  // A stranded code may be where a slot leads: it is kept, never retired.
  if (!installed) return forward_error(installed);
  const bool held = ref_counting_->hold(*c);
  if (is_function && !install) {
    owned_.find(c)->retired = true;
    retired.push_back(c);
  }
  if (install && current != nullptr) {
    owned_.find(current)->retired = true;
    retired.push_back(current);
  }
  return published_code{held ? c : nullptr, install};
}

template <class A, class J, class L, class T, class R>
result<void> native_module<A, J, L, T, R>::take_out_locked(owned_code& entry, removed_code& removed,
                                                           retire_list& retired) {
  const code* c = entry.object.get();
  if (c->kind() == code_kind::function) {
    const std::uint32_t slot = slot_of(*c->index());
    if (code_table_.at(slot) == c) {
      // Back to the lazy-compile slot. Should a table refuse, the code stays
      // installed; it is not retired then, so it is never freed while a
      // slot still leads to it.
      bool stranded = false;
      if (auto ok = retarget_everywhere_locked(slot, nullptr, stranded); !ok) return ok;
    }
  }
  entry.retired = true;
  retired.push_back(c);
  ++removed.count;
  removed.code_bytes += c->instructions_size();
  removed.metadata_bytes += c->metadata_bytes();
  return {};
}

template <class A, class J, class L, class T, class R>
removed_code native_module<A, J, L, T, R>::remove_code(const removal_filter& filter) {
  removed_code removed;
  retire_list retired;
  {
    std::lock_guard lock{mutex_};
    for (std::uint32_t slot = 0; slot < slots(); ++slot) {
      const code* c = code_table_.at(slot);
      if (c == nullptr || !tiering_.should_remove(*c, filter)) continue;
      JITCM_ASSERT_CLEANUP(take_out_locked(*owned_.find(c), removed, retired));
    }
  }
  retire(retired);
  return removed;
}

template <class A, class J, class L, class T, class R>
result<removed_code> native_module<A, J, L, T, R>::remove(const code* c) {
  removed_code removed;
  retire_list retired;
  {
    std::lock_guard lock{mutex_};
    owned_code* found = owned_.find(c);
    if (c == nullptr || found == nullptr) return failure{errc::not_owned};
    if (found->retired) return failure{errc::double_free};
    if (auto ok = take_out_locked(*found, removed, retired); !ok) return forward_error(ok);
  }
  retire(retired);
  return removed;
}

template <class A, class J, class L, class T, class R>
void native_module<A, J, L, T, R>::free_code(const code& dead) noexcept {
  std::lock_guard lock{mutex_};
  owned_code* found = owned_.find(&dead);
  if (found == nullptr) return;
  forget_locked(*found);
  owned_.erase(&dead);
}

template <class A, class J, class L, class T, class R>
void native_module<A, J, L, T, R>::forget_locked(owned_code& entry) noexcept {
  const code& c = *entry.object;
  JITCM_ASSERT_CLEANUP(services_.lookup->erase(&c));
  if (services_.observers != nullptr) services_.observers->freed(c);
  JITCM_ASSERT_CLEANUP(allocator_.free(entry.memory));
  ++freed_count_;
}

template <class A, class J, class L, class T, class R>
std::size_t native_module<A, J, L, T, R>::collect(std::span<const code* const> live) {
  return ref_counting_->collect(live);
}

template <class A, class J, class L, class T, class R>
module_stats native_module<A, J, L, T, R>::stats() const {
  module_stats s;
  s.functions = options_.functions;
  s.imported = options_.imported;
  s.retired = ref_counting_->retired_count();
  std::lock_guard lock{mutex_};
  s.code_objects = owned_.size();
  s.installed = code_table_.installed();
  const auto bytes = owned_.bytes();
  s.code_bytes = bytes.code;
  s.metadata_bytes = bytes.metadata;
  s.published = published_count_;
  s.freed = freed_count_;
  for (const code_space& space : allocator_.code_spaces()) {
    s.jump_table_bytes += space.code_header.size() + space.data_header.size();
  }
  s.memory = allocator_.stats();
  return s;
}

}  // namespace jitcm
