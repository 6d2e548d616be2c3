// Telling profilers and debuggers about code as it comes and goes.
//
// A code_observer is the extension point every tool integration plugs into
// (jitcm::observe has a perf map, a jitdump writer, the GDB JIT interface and
// unwind-info registration); it sees every manager's code without touching
// the policies. `o` is an observer, `c` a code object, `s` a span of slots.
//
// | expression                 | called when | guarantees |
// |----------------------------|-------------|------------|
// | `o.on_code_added(c)`       | c was published | c's instructions are final (instruction cache flushed) and c lives until on_code_freed(c) returns |
// | `o.on_code_freed(c)`       | c is about to be freed | no thread runs c; its range may be reused once the call returns. Code freed together (a module's teardown) comes in descending address order |
// | `o.on_code_moved(c, from)` | a JIT that moves code says so (jitcm itself never moves code) | c's instructions are now at c.instructions(), were at `from` |
// | `o.on_jump_table_added(s)`      | a code space's jump table was written | s lists every jump slot and lazy-compile slot of the table, executable addresses |
// | `o.on_jump_table_freed(s)`      | the code space goes away | the same list as on_jump_table_added |
// | `o.on_batch_end()`         | a publish or add_code call has told everything it adds | observers that buffer write now |
//
// All addresses are executable ones (the RX view under dual mapping), never a
// writable alias. Callbacks run on the thread that published or freed the
// code, usually while the module's lock is held: they must be quick, must not
// throw, and must not call back into the module or the manager. The
// notifications of one manager are serialised (one mutex), so an observer
// attached to one manager needs no lock of its own; one attached to several
// managers does.
//
// A minimal observer:
//
//   struct counter final : jitcm::code_observer {
//     std::size_t live = 0;
//     void on_code_added(const jitcm::code&) noexcept override { ++live; }
//     void on_code_freed(const jitcm::code&) noexcept override { --live; }
//   };
//   counter count;
//   manager.add_observer(count);   // and manager.remove_observer(count) before it dies
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "base/address_region.hpp"
#include "base/config.hpp"
#include "jump_table/emitter_traits.hpp"
#include "jump_table/table_view.hpp"

namespace jitcm {

class code;

/// What a piece of a jump table is for.
enum class slot_kind : std::uint8_t {
  jump_slot,  ///< the near and far slots callers call for one function
  lazy_slot,  ///< the lazy-compile slot that enters the JIT for one function
};

/// A jump-table piece without a code object: samples, breakpoints and
/// backtraces in it are attributed by its name.
struct jump_table_slot {
  address_region instructions{};  ///< executable addresses
  slot_kind kind = slot_kind::jump_slot;
  std::uint32_t index = 0;  ///< the function the slot is for

  friend constexpr bool operator==(const jump_table_slot&, const jump_table_slot&) noexcept = default;
};

/// A jump_table_slot's name, "jitcm::jump_slot[7]" or "jitcm::lazy_slot[7]", in a
/// fixed buffer (usable where nothing may allocate).
class slot_name {
 public:
  explicit slot_name(const jump_table_slot& s) noexcept;
  // Out of line: a string_view built inline checks its constructors' constraints in every TU.
  [[nodiscard]] std::string_view view() const noexcept;

 private:
  std::array<char, 32> text_{};
  std::size_t size_ = 0;
};

/// Implemented by whoever must know which code exists at which address: a
/// profiler writing perf maps, a debugger setting breakpoints, a crash
/// reporter. See the table at the top of this header for when each callback
/// runs and what it may rely on.
class code_observer {
 public:
  /// `c` was published: its instructions are final and may run from now on.
  virtual void on_code_added(const code& c) noexcept = 0;
  /// `c` is about to be freed: no thread runs it any more and its address
  /// range may be reused once the call returns.
  virtual void on_code_freed(const code& c) noexcept = 0;
  /// `c` now lies at c.instructions(); it was at `from`.
  virtual void on_code_moved(const code& c, address_region from) noexcept {
    (void)c;
    (void)from;
  }
  /// A code space's jump slots and lazy-compile slots are in place.
  virtual void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept { (void)slots; }
  /// The slots of on_jump_table_added are about to go away with their code space.
  virtual void on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept { (void)slots; }
  /// Everything one publish or add_code call adds has been told.
  virtual void on_batch_end() noexcept {}

 protected:
  code_observer() = default;
  code_observer(const code_observer&) = default;
  code_observer& operator=(const code_observer&) = default;
  ~code_observer() = default;
};

namespace detail {

/// Where emitter `J` puts one function's slots, as plain function pointers
/// so that the code listing a table's slots is compiled once, not once per
/// emitter in every TU (see code_observer_list::announce_slots).
struct slot_offsets {
  std::uintptr_t (*near)(std::uint32_t slot) noexcept;
  std::uintptr_t (*lazy)(std::uint32_t slot) noexcept;
  std::size_t lazy_size;
};

template <class J>
[[nodiscard]] constexpr slot_offsets slot_offsets_of() noexcept {
  return {+[](std::uint32_t slot) noexcept -> std::uintptr_t { return J::near_slot_offset(slot); },
          +[](std::uint32_t slot) noexcept -> std::uintptr_t { return J::lazy_slot_offset(slot); }, J::lazy_slot_size};
}

/// The observers of one code manager. Thread safety: every member from any
/// thread; notifications are serialised with each other and with adding and
/// removing observers.
class code_observer_list {
 public:
  void add(code_observer& observer);
  /// Returns whether `observer` was registered.
  bool remove(code_observer& observer);
  void added(const code& c) const noexcept;
  void freed(const code& c) const noexcept;
  void moved(const code& c, address_region from) const noexcept;
  void batch_ended() const noexcept;

  /// Tells the observers about one code space's jump table laid out by `J`
  /// (added, or about to be freed). Allocates only when someone listens.
  template <class J>
  void jump_table_added(const jump_table::table_view& view) const {
    announce<J>(&code_observer::on_jump_table_added, view);
  }
  template <class J>
  void jump_table_freed(const jump_table::table_view& view) const {
    announce<J>(&code_observer::on_jump_table_freed, view);
  }

 private:
  template <class... Params, class... Args>
  void notify(void (code_observer::*callback)(Params...) noexcept, const Args&... args) const noexcept {
    std::lock_guard lock{mutex_};
    for (code_observer* observer : observers_) (observer->*callback)(args...);
  }
  /// Emitters without machine code (jump_table::portable) have no slots to tell.
  template <class J>
  void announce(void (code_observer::*callback)(std::span<const jump_table_slot>) noexcept,
                const jump_table::table_view& view) const {
    if constexpr (jump_table::emitter_traits<J>::has_machine_code) announce_slots(callback, view, slot_offsets_of<J>());
  }
  /// One jump slot (near and far slot together) and one lazy slot per
  /// function of the table. Allocates only when someone listens.
  void announce_slots(void (code_observer::*callback)(std::span<const jump_table_slot>) noexcept,
                      const jump_table::table_view& view, const slot_offsets& offsets) const;
  [[nodiscard]] bool empty() const;

  mutable std::mutex mutex_;
  std::vector<code_observer*> observers_;
};

}  // namespace detail
}  // namespace jitcm

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/code_observer.ipp"  // IWYU pragma: export
#endif
