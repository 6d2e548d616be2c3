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
// | `registry.rejected()`           | `size_t`    | code objects whose unwind info could not be parsed, or for which no room within 4 GiB of the code could be reserved; they run, but unwinding stops at them |
//
// RUNTIME_FUNCTION and UNWIND_INFO locate each other by 32-bit offsets from
// one base address, so the registry's copy of the UNWIND_INFOs and the code
// must lie within 4 GiB of each other (the lower one is the base). CoreCLR
// keeps them in the code heap with RtlAddGrowableFunctionTable per heap;
// jitcm's allocators do not reserve room for them, so the registry keeps
// its copies in chunks of its own reserved near the code
// (platform::reserve_preferring inside platform::within_reach of it):
// wherever ASLR puts the heap and the code spaces, the offsets fit. The OS
// keeps dynamic function tables in a list it searches on every exception:
// a table per code object is fine for thousands.
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

#include "../../base/code.hpp"
#include "../../code_observer.hpp"
#include "../../platform/detail/windows_api.hpp"
#include "../../platform/placement.hpp"
#include "../../platform/reservation.hpp"
#include "../windows_unwind.hpp"

#if defined(JITCM_OS_WINDOWS)

namespace jitcm::observe {

namespace detail {

/// Room for UNWIND_INFO copies within 4 GiB of the code they describe:
/// chunks of at least one allocation granule, each reserved inside
/// platform::within_reach of the code that first needed it, filled front
/// to back and released when the last copy in them goes.
class unwind_copy_room {
 public:
  /// `bytes` bytes (DWORD-aligned) within reach of `code`; nullptr when
  /// no chunk in reach has room and none can be reserved there.
  [[nodiscard]] std::byte* take(address_region code, std::size_t bytes) noexcept {
    for (chunk& c : chunks_) {
      if (c.memory.region().size() - c.used >= bytes && reaches(code, c.memory.region())) return put(c, bytes);
    }
    const auto rounded = platform::round_up(bytes, platform::allocation_granularity());
    if (!rounded) return nullptr;
    const std::size_t size = *rounded;
    auto placed = platform::reserve_preferring(
        platform::within_reach(code, std::numeric_limits<DWORD>::max()), size, 0,
        [size](std::uintptr_t hint) { return platform::reservation::reserve(size, hint); }, true);
    if (!placed || !placed->space.commit(placed->space.region(), platform::access::read_write)) return nullptr;
    chunks_.push_back(chunk{std::move(placed->space)});
    return put(chunks_.back(), bytes);
  }

  void give_back(const std::byte* copy) noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(copy);
    for (auto c = chunks_.begin(); c != chunks_.end(); ++c) {
      if (!c->memory.region().contains(at)) continue;
      if (--c->live == 0) chunks_.erase(c);
      return;
    }
  }

  /// Chunks reserved now.
  [[nodiscard]] std::size_t chunks() const noexcept { return chunks_.size(); }

  [[nodiscard]] static bool reaches(address_region code, address_region room) noexcept {
    const std::uintptr_t low = std::min(code.begin(), room.begin());
    const std::uintptr_t high = std::max(code.end(), room.end());
    return high - low <= std::numeric_limits<DWORD>::max();
  }

 private:
  struct chunk {
    platform::reservation memory;
    std::size_t used = 0;
    std::size_t live = 0;
  };

  static std::byte* put(chunk& c, std::size_t bytes) noexcept {
    auto* copy = reinterpret_cast<std::byte*>(c.memory.region().begin() + c.used);
    c.used += (bytes + 3) & ~std::size_t{3};
    ++c.live;
    return copy;
  }

  std::vector<chunk> chunks_;
};

}  // namespace detail

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
    std::lock_guard lock{mutex_};
    auto table = function_table::make(c, room_);
    if (!table ||
        !RtlAddFunctionTable(table->functions.data(), static_cast<DWORD>(table->functions.size()), table->base)) {
      if (table) room_.give_back(table->unwind_infos);
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
    room_.give_back(found->second->unwind_infos);
    tables_.erase(found);
  }

  void on_batch_end() noexcept override {}

 private:
  /// One code object's RUNTIME_FUNCTIONs, relative to `base`, and where its
  /// UNWIND_INFOs were copied (in a detail::unwind_copy_room).
  struct function_table {
    std::vector<RUNTIME_FUNCTION> functions;
    std::byte* unwind_infos = nullptr;
    DWORD64 base = 0;

    // nullptr when the info does not parse or no room in reach was found.
    [[nodiscard]] static std::unique_ptr<function_table> make(const code& c, detail::unwind_copy_room& room) noexcept {
      auto entries = windows_unwind::parse(c.unwind_info());
      if (!entries || entries->empty()) return nullptr;
      std::size_t bytes = 0;
      for (const windows_unwind::entry& e : *entries) {
        if (e.end > c.instructions().size()) return nullptr;
        bytes += e.unwind_info.size();
      }
      auto table = std::make_unique<function_table>();
      table->unwind_infos = room.take(c.instructions(), bytes);
      if (table->unwind_infos == nullptr) return nullptr;
      const std::uintptr_t code_start = c.instruction_start();
      const auto infos = reinterpret_cast<std::uintptr_t>(table->unwind_infos);
      table->base = std::min(code_start, infos);
      std::size_t info_offset = 0;
      for (const windows_unwind::entry& e : *entries) {
        std::memcpy(table->unwind_infos + info_offset, e.unwind_info.data(), e.unwind_info.size());
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
  // These fields are guarded by mutex_.
  detail::unwind_copy_room room_;
  std::unordered_map<const code*, std::unique_ptr<function_table>> tables_;
  std::size_t rejected_ = 0;
};

}  // namespace jitcm::observe

#endif  // JITCM_OS_WINDOWS
