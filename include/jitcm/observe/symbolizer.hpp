// observe::symbolizer: names the function, jump slot or lazy-compile slot a
// program counter lies in, for a JIT's own profiler or crash reporter (the
// in-process counterpart of what the perf map tells perf).
//
// | expression                       | result                  | guarantees |
// |----------------------------------|-------------------------|------------|
// | `manager.add_observer(symbols)`  | —                       | learns each code space's slots as they are set up, forgets them with their space |
// | `symbols.symbolize(manager, pc)` | `std::optional<symbol>` | the code containing pc (manager.lookup + its name), else the jump_table_slot containing pc, else none |
// | `symbols.slot_count()`           | `size_t`                | slots known now |
//
//   jitcm::observe::symbolizer symbols;
//   manager.add_observer(symbols);
//   if (auto s = symbols.symbolize(manager, sample_pc)) record(s->name, s->offset);
//
// Thread safety: every member from any thread (one mutex). symbolize takes a
// lock and allocates the name: not for signal handlers (there, call
// manager.lookup and read code::name()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "../base/code.hpp"
#include "../base/config.hpp"
#include "../code_observer.hpp"
#include "detail/names.hpp"

namespace jitcm::observe {

/// Where a program counter lies: in `name`, `offset` bytes from its start.
struct symbol {
  std::string name;
  std::uintptr_t start = 0;
  std::size_t offset = 0;
};

class symbolizer final : public code_observer {
 public:
  symbolizer();
  symbolizer(const symbolizer&) = delete;
  symbolizer& operator=(const symbolizer&) = delete;
  ~symbolizer();

  void on_code_added(const code&) noexcept override {}
  void on_code_freed(const code&) noexcept override {}
  JITCM_DECL void on_jump_table_added(std::span<const jump_table_slot> slots) noexcept override;
  JITCM_DECL void on_jump_table_freed(std::span<const jump_table_slot> slots) noexcept override;

  /// The code or jump_table_slot containing `pc` in `manager`'s modules.
  template <class Manager>
  [[nodiscard]] std::optional<symbol> symbolize(const Manager& manager, std::uintptr_t pc) const {
    if (const code* c = manager.lookup(pc)) {
      return symbol{detail::display_name(*c), c->instruction_start(), pc - c->instruction_start()};
    }
    return slot_symbol(pc);
  }

  [[nodiscard]] std::size_t slot_count() const;

 private:
  /// The jump_table_slot containing `pc`, if one does.
  [[nodiscard]] std::optional<symbol> slot_symbol(std::uintptr_t pc) const;

  // The slots by start address, out of the header: the map's instantiation
  // cost every TU that included it (README, "Compile time").
  struct slot_map;

  mutable std::mutex mutex_;
  slot_map* slots_;  // owned
};

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/symbolizer.ipp"  // IWYU pragma: export
#endif
