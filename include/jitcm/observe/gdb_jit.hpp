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
#include <mutex>
#include <span>

#include "../base/config.hpp"
#include "../code_observer.hpp"

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
  gdb_jit();
  gdb_jit(const gdb_jit&) = delete;
  gdb_jit& operator=(const gdb_jit&) = delete;
  ~gdb_jit();

  [[nodiscard]] std::size_t entries() const;

  JITCM_DECL void on_code_added(const code& c) noexcept override;
  JITCM_DECL void on_code_freed(const code& c) noexcept override;
  JITCM_DECL void on_code_moved(const code& c, address_region from) noexcept override;
  JITCM_DECL void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override;
  JITCM_DECL void on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept override;
  JITCM_DECL void on_batch_end() noexcept override;

 private:
  struct entry;
  // The containers, out of the header: their instantiations cost every TU
  // that included it (README, "Compile time").
  struct tables;

  void publish_pending_locked();
  void forget(std::uintptr_t key) noexcept;
  void drop_pending(std::uintptr_t key);
  /// Rebuilds `e` without its freed symbols and registers it again.
  void relink(entry& e);
  void link(entry& e);
  static void unlink(entry& e) noexcept;

  mutable std::mutex mutex_;
  tables* tables_;  // owned
};

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/gdb_jit.ipp"  // IWYU pragma: export
#endif
