// observe::gdb_jit: GDB's JIT interface. Each publish batch (and each code
// space's jump table) becomes one in-memory ELF object GDB loads as a symbol
// file, so `break name` (pending breakpoints too), `bt` and `info symbol`
// know JIT code.
//
// | expression                         | result   | guarantees |
// |------------------------------------|----------|------------|
// | `manager.add_observer(gdb)`        | —        | code published in one publish/add_code call is registered as one entry when the call ends (calls that overlap on several threads may share one); slots as one entry per code space, at once |
// | `gdb.on_code_freed(c)` (by jitcm)  | —        | c's entry is unregistered when its last symbol goes; until then c's name is dropped from it at the next batch (GDB's cost grows with entries, so entries are not per function) |
// | `gdb.entries()`                    | `size_t` | entries registered now |
// | `gdb_jit_descriptor()`             | `jit_descriptor&` | the process's descriptor |
//
// The interface is two symbols GDB looks up by name: the function
// `__jit_debug_register_code` (GDB breaks on it) and the variable
// `__jit_debug_descriptor` (the list of entries). jitcm defines both inline
// (weak, COMDAT), so however many translation units and shared libraries
// include this header, the linker and the dynamic loader keep one of each per
// process; -fvisibility=hidden on a library would give it a private copy,
// which GDB 10 and later also read.
//
// Sharing with another JIT in the process (LLVM's ORC/MCJIT, say): its
// definitions are strong and win over jitcm's weak ones, so both JITs link
// entries into one list. Define JITCM_GDB_JIT_INTERFACE_EXTERNAL before
// including jitcm to declare the symbols without defining them (when the other
// JIT is linked statically, say). The list must be changed under one lock:
// jitcm holds `gdb_jit_registration_mutex()` (one per process, like the
// symbols); have the other JIT's registrations take it too, or register from
// one thread only.
//
// Thread safety: every member from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../base/code.hpp"
#include "../code_observer.hpp"
#include "detail/elf_image.hpp"
#include "detail/names.hpp"

// GDB's JIT interface (gdb/jit.h; "JIT Interface" in GDB's manual).
extern "C" {

struct jit_code_entry {
  jit_code_entry* next_entry;
  jit_code_entry* prev_entry;
  const char* symfile_addr;
  std::uint64_t symfile_size;
};

struct jit_descriptor {
  std::uint32_t version;
  std::uint32_t action_flag;  // 0: none, 1: register relevant_entry, 2: unregister it
  jit_code_entry* relevant_entry;
  jit_code_entry* first_entry;
};

#if defined(JITCM_GDB_JIT_INTERFACE_EXTERNAL)
void __jit_debug_register_code();
extern jit_descriptor __jit_debug_descriptor;
#else
// GDB puts a breakpoint here: it must exist, stay out of line, and not be
// optimised away by a caller that sees an empty body.
[[gnu::noinline, gnu::used]] inline void __jit_debug_register_code() { __asm__ volatile("" ::: "memory"); }
inline jit_descriptor __jit_debug_descriptor{1, 0, nullptr, nullptr};
#endif
}

namespace jitcm::observe {

/// The process's GDB JIT descriptor.
[[nodiscard]] inline jit_descriptor& gdb_jit_descriptor() noexcept { return __jit_debug_descriptor; }

/// The lock every change of the descriptor's list is made under (one per
/// process: an inline variable is unique across shared libraries).
[[nodiscard]] inline std::mutex& gdb_jit_registration_mutex() noexcept {
  static std::mutex mutex;
  return mutex;
}

class gdb_jit final : public code_observer {
 public:
  gdb_jit() = default;
  gdb_jit(const gdb_jit&) = delete;
  gdb_jit& operator=(const gdb_jit&) = delete;
  ~gdb_jit() {
    std::lock_guard lock{mutex_};
    for (auto& e : entries_) unlink(*e);
  }

  [[nodiscard]] std::size_t entries() const {
    std::lock_guard lock{mutex_};
    std::size_t linked = 0;
    for (const auto& e : entries_) linked += e->linked ? 1 : 0;
    return linked;
  }

  void on_code_added(const code& c) noexcept override {
    std::lock_guard lock{mutex_};
    pending_.push_back({detail::display_name(c), c.instructions()});
    pending_keys_.push_back(c.instruction_start());
  }
  void on_code_freed(const code& c) noexcept override { forget(c.instruction_start()); }
  void on_code_moved(const code& c, address_region from) noexcept override {
    forget(from.begin());
    on_code_added(c);
    on_batch_end();
  }
  void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override {
    std::lock_guard lock{mutex_};
    for (const jump_table_slot& s : slots) {
      pending_.push_back({std::string{slot_name{s}.view()}, s.instructions});
      pending_keys_.push_back(s.instructions.begin());
    }
    publish_pending_locked();
  }
  void on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept override {
    for (const jump_table_slot& s : slots) forget(s.instructions.begin());
  }
  void on_batch_end() noexcept override {
    std::lock_guard lock{mutex_};
    // Entries that lost symbols are rebuilt first, so a name freed before
    // this batch never shows next to new code at a reused address.
    for (auto& e : entries_) {
      if (e->stale) relink(*e);
    }
    publish_pending_locked();
  }

 private:
  struct entry {
    jit_code_entry node{};
    std::vector<std::byte> image;
    std::vector<detail::elf_symbol> symbols;
    std::vector<std::uintptr_t> keys;  // symbol i's key (its start address), or 0 once freed
    std::size_t live = 0;
    bool linked = false;
    bool stale = false;
  };

  void publish_pending_locked() {
    if (pending_.empty()) return;
    auto e = std::make_unique<entry>();
    e->symbols = std::move(pending_);
    e->keys = std::move(pending_keys_);
    e->live = e->symbols.size();
    pending_.clear();
    pending_keys_.clear();
    for (std::uintptr_t key : e->keys) owner_of_[key] = e.get();
    link(*e);
    entries_.push_back(std::move(e));
  }

  void forget(std::uintptr_t key) noexcept {
    std::lock_guard lock{mutex_};
    const auto found = owner_of_.find(key);
    if (found == owner_of_.end()) {
      drop_pending(key);
      return;
    }
    entry& e = *found->second;
    owner_of_.erase(found);
    const auto k = std::find(e.keys.begin(), e.keys.end(), key);
    if (k != e.keys.end()) *k = 0;
    if (--e.live > 0) {
      e.stale = true;
      return;
    }
    unlink(e);
    std::erase_if(entries_, [&](const std::unique_ptr<entry>& owned) { return owned.get() == &e; });
  }
  void drop_pending(std::uintptr_t key) {
    for (std::size_t i = 0; i < pending_keys_.size(); ++i) {
      if (pending_keys_[i] != key) continue;
      pending_keys_.erase(pending_keys_.begin() + static_cast<std::ptrdiff_t>(i));
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }

  /// Rebuilds `e` without its freed symbols and registers it again.
  void relink(entry& e) {
    unlink(e);
    std::vector<detail::elf_symbol> live;
    std::vector<std::uintptr_t> keys;
    for (std::size_t i = 0; i < e.symbols.size(); ++i) {
      if (e.keys[i] == 0) continue;
      live.push_back(std::move(e.symbols[i]));
      keys.push_back(e.keys[i]);
    }
    e.symbols = std::move(live);
    e.keys = std::move(keys);
    e.stale = false;
    link(e);
  }

  void link(entry& e) {
    e.image = detail::build_elf_image(e.symbols);
    e.node.symfile_addr = reinterpret_cast<const char*>(e.image.data());
    e.node.symfile_size = e.image.size();
    std::lock_guard lock{gdb_jit_registration_mutex()};
    jit_descriptor& d = gdb_jit_descriptor();
    e.node.prev_entry = nullptr;
    e.node.next_entry = d.first_entry;
    if (d.first_entry != nullptr) d.first_entry->prev_entry = &e.node;
    d.first_entry = &e.node;
    d.relevant_entry = &e.node;
    d.action_flag = 1;
    __jit_debug_register_code();
    e.linked = true;
  }
  static void unlink(entry& e) noexcept {
    if (!e.linked) return;
    std::lock_guard lock{gdb_jit_registration_mutex()};
    jit_descriptor& d = gdb_jit_descriptor();
    if (e.node.prev_entry != nullptr) e.node.prev_entry->next_entry = e.node.next_entry;
    else d.first_entry = e.node.next_entry;
    if (e.node.next_entry != nullptr) e.node.next_entry->prev_entry = e.node.prev_entry;
    d.relevant_entry = &e.node;
    d.action_flag = 2;
    __jit_debug_register_code();
    e.linked = false;
  }

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<entry>> entries_;
  std::unordered_map<std::uintptr_t, entry*> owner_of_;
  std::vector<detail::elf_symbol> pending_;
  std::vector<std::uintptr_t> pending_keys_;
};

}  // namespace jitcm::observe
