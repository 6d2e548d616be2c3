// One module's jump tables: a table per code space, all routing each
// function to the same target, and where their lazy slots send calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "../base/address_region.hpp"
#include "../base/config.hpp"
#include "../allocator/code_block.hpp"
#include "../jump_table/emitter_traits.hpp"
#include "../jump_table/lazy_trampoline.hpp"
#include "../jump_table/table_view.hpp"
#include "../base/result.hpp"

namespace jitcm::detail {

/// What jump_table_set keeps whatever its emitter: the routing and the
/// tables. Not a template, so that its members (std::optional, std::span
/// and std::vector code) are compiled once under separate compilation
/// (impl/jump_table_set.ipp) instead of in every TU that includes the set.
class jump_table_list {
 public:
  // choose_routing, views and size: see jump_table_set's table.
  [[nodiscard]] result<void> choose_routing(std::optional<jump_table::routing> requested,
                                            bool write_revokes_execute) noexcept;
  [[nodiscard]] jump_table::routing routing() const noexcept { return routing_; }
  [[nodiscard]] std::span<const jump_table::table_view> views() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;

 protected:
  jump_table_list() = default;
  ~jump_table_list() = default;
  /// Appends the table of a new code space; the first becomes main_.
  void add(const jump_table::table_view& view);

  // The first space's table, set once before the set is shared, so
  // call_target reads it without a lock while tables_ grows.
  jump_table::table_view main_{};

 private:
  jump_table::routing routing_ = jump_table::routing::near;
  // Serialised by the owner (see jump_table_set's Thread safety).
  std::vector<jump_table::table_view> tables_;  // one per code space, in creation order
};

/// The jump tables of one module, for emitter `J`: the first code space's
/// table is the one callers call (`call_target`); every later space gets a
/// copy so that its code reaches each function with a near branch. A slot
/// is retargeted in every table at once, and put back in all of them if one
/// refuses.
///
/// Lazy calls go to one of two places: a raw entry the caller supplies
/// (`module_options::lazy_entry`), or, with a `lazy_compile_callback`, a
/// small context entry written after each space's slots that loads the
/// callback's address and enters the shared trampoline's context door. The
/// set holds the callback, whose address those entries bake in, so it never
/// moves (neither copyable nor movable).
///
/// | expression                                   | result          | guarantees |
/// |----------------------------------------------|-----------------|------------|
/// | `set_type::code_header_bytes(n, callback)`   | `size_t`        | code-header bytes of a space for n slots (slots, then the context entry when `callback`) |
/// | `set_type::data_header_bytes(n)`             | `size_t`        | data-header bytes of a space for n slots |
/// | `s.choose_routing(requested, revokes)`       | `result<void>`  | far_only when the allocator's write scopes revoke execute permission, else near, unless `requested`; near with `revokes` is invalid_argument |
/// | `s.open_lazy_door()`                         | `result<void>`  | with a callback, finds the trampoline's context door (unsupported without one) |
/// | `s.add_space(space, rw_code, rw_data, open, installed)` | `result<void>` | writes the new space's table (inside `open(space.code_header)` when the emitter has machine code) routing slot i to `installed(i)` (0: its lazy slot); the table joins the set only on success |
/// | `s.retarget(slot, target, before, open, stranded)` | `result<void>` | every table leads slot to `target` (0: its lazy slot); on error every table is put back to `before`, and `stranded` says one could not be |
/// | `s.call_target(slot)`                        | `uintptr_t`     | the first table's call target for slot |
///
///     detail::jump_table_set<jump_table::host> tables{slots, imported, nullptr, entry};
///     if (auto ok = tables.choose_routing(std::nullopt, false); !ok) return ok;
///     if (auto ok = tables.add_space(space, rw(space.code_header), rw(space.data_header),
///                                    write_scopes_of(memory), [](std::uint32_t) { return 0; }); !ok) return ok;
///     tables.retarget(slot, code_address, 0, write_scopes_of(memory), stranded);
///
/// Thread safety: add_space and retarget change the tables and are
/// serialised by the owner (native_module: under its `mutex_`), as are
/// `views()` and `size()`. choose_routing, open_lazy_door and the first
/// add_space happen before the set is shared; call_target and routing()
/// read only what they set, without a lock.
template <class J>
class jump_table_set : public jump_table_list {
 public:
  /// `lazy` is copied into the set (its address goes into the tables);
  /// `lazy_entry` is used when `lazy.function` is null.
  jump_table_set(std::uint32_t slots, std::uint32_t first_index, const jump_table::lazy_compile_callback& lazy,
                 std::uintptr_t lazy_entry) noexcept
      : slots_{slots}, first_index_{first_index}, lazy_{lazy}, lazy_entry_{lazy_entry} {}
  jump_table_set(const jump_table_set&) = delete;
  jump_table_set& operator=(const jump_table_set&) = delete;

  using emitter = jump_table::emitter_traits<J>;
  /// Whether the emitter can write a context entry (lazy_compile_callback support).
  static constexpr bool has_context_entry = emitter::has_context_entry;

  [[nodiscard]] static std::size_t code_header_bytes(std::uint32_t slots, bool lazy_callback) noexcept {
    if constexpr (has_context_entry) {
      if (slots > 0 && lazy_callback) return context_entry_offset(slots) + emitter::context_entry_size;
    }
    return J::code_bytes(slots);
  }
  [[nodiscard]] static std::size_t data_header_bytes(std::uint32_t slots) noexcept { return J::data_bytes(slots); }

  [[nodiscard]] bool has_lazy_callback() const noexcept { return lazy_.function != nullptr; }
  [[nodiscard]] result<void> open_lazy_door() noexcept {
    if (!has_lazy_callback()) return {};
    auto door = jump_table::lazy_context_trampoline();
    if (!door) return forward_error(door);
    lazy_door_ = *door;
    return {};
  }

  [[nodiscard]] std::uintptr_t call_target(std::uint32_t slot) const noexcept { return J::call_target(main_, slot); }

  template <class Opener, class InstalledTarget>
  [[nodiscard]] result<void> add_space(const code_space& space, std::uintptr_t code_writable,
                                       std::uintptr_t data_writable, Opener&& open, InstalledTarget&& installed) {
    const jump_table::table_view view{
        .code_base = space.code_header.begin(),
        .code_writable = code_writable,
        .data_base = space.data_header.begin(),
        .data_writable = data_writable,
        .slots = slots_,
        .first_index = first_index_,
    };
    if (slots_ > 0) {
      if constexpr (J::code_bytes(1) > 0) {
        auto scope = open(space.code_header);
        if (!scope) return forward_error(scope);
        if (auto ok = initialize_table(view); !ok) return ok;
        if (auto ok = write_context_entry(view); !ok) return ok;
        if (auto ended = scope->end(); !ended) return ended;
      } else {
        if (auto ok = initialize_table(view); !ok) return ok;
      }
      // A new space's table must route to the code already installed. No
      // thread runs it yet, so a failure leaves nothing to put back.
      for (std::uint32_t slot = 0; slot < slots_; ++slot) {
        const std::uintptr_t target = installed(slot);
        if (target == 0) continue;
        if (auto ok = retarget_one(view, slot, target, open); !ok) return ok;
      }
    }
    add(view);
    return {};
  }

  /// `target` and `before` are code addresses, 0 for the slot's lazy slot.
  template <class Opener>
  [[nodiscard]] result<void> retarget(std::uint32_t slot, std::uintptr_t target, std::uintptr_t before, Opener&& open,
                                      bool& stranded) {
    const std::span<const jump_table::table_view> tables = views();
    for (std::size_t t = 0; t < tables.size(); ++t) {
      if (auto ok = retarget_one(tables[t], slot, target, open); !ok) {
        // The failing table too: an emitter may report a refused protection
        // restore after its store.
        for (std::size_t undo = 0; undo <= t; ++undo) {
          if (!retarget_one(tables[undo], slot, before, open)) stranded = true;
        }
        return ok;
      }
    }
    return {};
  }

 private:
  [[nodiscard]] static constexpr std::size_t context_entry_offset(std::uint32_t slots) noexcept {
    return (J::code_bytes(slots) + 15) & ~std::size_t{15};
  }

  /// Where the lazy slots of the table at `view` send calls.
  [[nodiscard]] std::uintptr_t lazy_entry_of(const jump_table::table_view& view) const noexcept {
    if constexpr (has_context_entry) {
      if (has_lazy_callback()) return view.code_base + context_entry_offset(view.slots);
    }
    return lazy_entry_;
  }
  [[nodiscard]] result<void> write_context_entry(const jump_table::table_view& view) const noexcept {
    if constexpr (has_context_entry) {
      if (!has_lazy_callback()) return {};
      const std::uintptr_t entry = lazy_entry_of(view);
      auto bytes = emitter::encode_context_entry(entry, reinterpret_cast<std::uintptr_t>(&lazy_), lazy_door_);
      if (!bytes) return forward_error(bytes);
      std::memcpy(reinterpret_cast<void*>(view.code_writable_for(entry)), bytes->data(), bytes->size());
    }
    return {};
  }
  [[nodiscard]] std::uintptr_t lazy_target(const jump_table::table_view& view, std::uint32_t slot) const noexcept {
    return emitter::lazy_target(view, slot, lazy_entry_of(view));
  }
  [[nodiscard]] result<void> initialize_table(const jump_table::table_view& view) const noexcept {
    return emitter::initialize(view, lazy_entry_of(view), routing());
  }
  template <class Opener>
  [[nodiscard]] result<void> retarget_one(const jump_table::table_view& view, std::uint32_t slot, std::uintptr_t target,
                                          Opener& open) const {
    const std::uintptr_t address = target != 0 ? target : lazy_target(view, slot);
    if (routing() == jump_table::routing::far_only) return J::patch_far(view, slot, address);
    return J::patch(view, slot, address, open);
  }

  // Set before the set is shared; read without a lock.
  std::uint32_t slots_;
  std::uint32_t first_index_;
  // The callback every code space's context entry passes to the trampoline:
  // its address is in those entries, so it lives as long as the set.
  const jump_table::lazy_compile_callback lazy_;
  std::uintptr_t lazy_entry_;
  std::uintptr_t lazy_door_ = 0;  // the trampoline's context door, with a lazy callback
};

}  // namespace jitcm::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/jump_table_set.ipp"  // IWYU pragma: export
#endif
