// observe::unwind_registry on Windows x64: registers each code object's
// unwind info (code_desc::unwind_info in the format of windows_unwind.hpp)
// with RtlAddFunctionTable, so C++ exceptions, SEH and stack walks
// (RtlVirtualUnwind, debuggers) pass through JIT frames.
//
// | expression                       | result      | guarantees |
// |----------------------------------|-------------|------------|
// | `unwind_registry{}`              | —           | |
// | `manager.add_observer(registry)` | —           | published code with unwind info is registered before on_code_added returns (so before it can run), deregistered (RtlDeleteFunctionTable) in on_code_freed, before its memory can be reused |
// | `registry.registered()`          | `size_t`    | code objects registered now |
// | `registry.sections()`            | `size_t`    | function tables the OS holds now (one per code object) |
// | `registry.rejected()`            | `size_t`    | code objects whose unwind info could not be parsed, or whose code lies more than 4 GiB from the registry's copy of it; they run, but unwinding stops at them |
//
// RUNTIME_FUNCTION and UNWIND_INFO locate each other by 32-bit offsets from
// one base address, so the registry's copy of the UNWIND_INFOs and the code
// must lie within 4 GiB of each other (the lower one is the base). CoreCLR
// keeps them in the code heap with RtlAddGrowableFunctionTable per heap;
// jitcm's allocators do not reserve room for them, so the copy lives on the
// heap, which on Windows and Wine lies in the same low range as
// VirtualAlloc's reservations, and code out of reach is counted in
// rejected(). The OS keeps dynamic function tables in a list it searches
// on every exception: a table per code object is fine for thousands.
//
// Thread safety: every member from any thread (one mutex; the OS's table
// functions lock too). Destroy the registry only after removing it from
// every manager; the destructor deregisters what is left.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "../../code.hpp"
#include "../../code_observer.hpp"
#include "../../platform/detail/windows_api.hpp"
#include "../windows_unwind.hpp"

namespace jitcm::observe {

class unwind_registry final : public code_observer {
 public:
  unwind_registry() noexcept = default;
  unwind_registry(const unwind_registry&) = delete;
  unwind_registry& operator=(const unwind_registry&) = delete;
  ~unwind_registry() {
    std::lock_guard lock{mutex_};
    for (auto& [code, table] : tables_) RtlDeleteFunctionTable(table->functions.data());
  }

  /// Code objects whose unwind info is registered now.
  [[nodiscard]] std::size_t registered() const {
    std::lock_guard lock{mutex_};
    return tables_.size();
  }
  /// Function tables handed to the OS now.
  [[nodiscard]] std::size_t sections() const { return registered(); }
  [[nodiscard]] std::size_t rejected() const {
    std::lock_guard lock{mutex_};
    return rejected_;
  }

  void on_code_added(const code& c) noexcept override {
    if (c.unwind_info().empty()) return;
    auto table = function_table::make(c);
    std::lock_guard lock{mutex_};
    if (!table || !RtlAddFunctionTable(table->functions.data(), static_cast<DWORD>(table->functions.size()),
                                       table->base)) {
      ++rejected_;
      return;
    }
    tables_.insert_or_assign(&c, std::move(table));
  }

  void on_code_freed(const code& c) noexcept override {
    std::lock_guard lock{mutex_};
    const auto found = tables_.find(&c);
    if (found == tables_.end()) return;
    RtlDeleteFunctionTable(found->second->functions.data());
    tables_.erase(found);
  }

  void on_batch_end() noexcept override {}

 private:
  /// One code object's RUNTIME_FUNCTIONs and a copy of its UNWIND_INFOs,
  /// all relative to `base`.
  struct function_table {
    std::vector<RUNTIME_FUNCTION> functions;
    std::vector<std::byte> unwind_infos;
    DWORD64 base = 0;

    // nullptr when the info does not parse or the code and the copy lie
    // more than 4 GiB apart.
    [[nodiscard]] static std::unique_ptr<function_table> make(const code& c) noexcept {
      auto entries = windows_unwind::parse(c.unwind_info());
      if (!entries || entries->empty()) return nullptr;
      auto table = std::make_unique<function_table>();
      for (const windows_unwind::entry& e : *entries) {
        if (e.end > c.instructions().size()) return nullptr;
        table->unwind_infos.insert(table->unwind_infos.end(), e.unwind_info.begin(), e.unwind_info.end());
      }
      const std::uintptr_t code_start = c.instruction_start();
      const auto infos = reinterpret_cast<std::uintptr_t>(table->unwind_infos.data());
      table->base = std::min(code_start, infos);
      const std::uintptr_t reach = std::max(code_start + c.instructions().size(), infos + table->unwind_infos.size());
      if (reach - table->base > std::numeric_limits<DWORD>::max()) return nullptr;
      std::size_t info_offset = 0;
      for (const windows_unwind::entry& e : *entries) {
        RUNTIME_FUNCTION f{};
        f.BeginAddress = static_cast<DWORD>(code_start - table->base + e.begin);
        f.EndAddress = static_cast<DWORD>(code_start - table->base + e.end);
        f.UnwindData = static_cast<DWORD>(infos - table->base + info_offset);
        table->functions.push_back(f);
        info_offset += e.unwind_info.size();
      }
      return table;
    }
  };

  mutable std::mutex mutex_;
  std::unordered_map<const code*, std::unique_ptr<function_table>> tables_;
  std::size_t rejected_ = 0;
};

}  // namespace jitcm::observe
