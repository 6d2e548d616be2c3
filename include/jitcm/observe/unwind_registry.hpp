// observe::unwind_registry: registers each code object's unwind info
// (code_desc::unwind_info) with the C++ runtime's unwinder, so exceptions,
// backtrace() and _Unwind_Backtrace walk through JIT frames.
//
// | expression                       | result      | guarantees |
// |----------------------------------|-------------|------------|
// | `unwind_registry{}`              | —           | registers in the way the linked unwinder expects (`detected_style()`) |
// | `manager.add_observer(registry)` | —           | published code with unwind info is registered before on_code_added returns, deregistered in on_code_freed, before its memory can be reused |
// | `registry.registered()`          | `size_t`    | code objects registered now |
// | `registry.rejected()`            | `size_t`    | code objects whose unwind info could not be parsed (see eh_frame::parse); they run, but unwinding stops at them |
// | `unwind_registry::detected_style()` | `registration_style` | per_fde when LLVM's libunwind is linked, whole_section with libgcc |
//
// How the runtimes differ (LLVM's RTDyldMemoryManager and Wasmtime do the
// same): libgcc's `__register_frame` takes a whole .eh_frame section ending
// with a zero terminator; LLVM libunwind's takes one FDE. libunwind is
// recognised by its `__unw_add_dynamic_fde` entry point.
//
// Cost: libgcc before GCC 13 keeps registered sections in a list that it
// searches from the newest registration (and, after the first throw, sorted
// by descending address). Deregistering the newest first is O(1) each,
// deregistering the oldest first walks the whole list each time: 40k
// functions freed in the wrong order cost seconds. jitcm frees a module's
// code in descending address order, and the registry's destructor goes from
// the newest registration back; both stay linear (bench_unwind_registration
// measures both orders). GCC 13's libgcc keeps a b-tree and does not care.
//
// Each registration owns a rebased copy of the code's entries, so the
// unwinder never reads the code object's metadata.
//
// Thread safety: every member from any thread (one mutex; the runtime's
// registration functions lock too). Destroy the registry only after removing
// it from every manager; the destructor deregisters what is left.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../code.hpp"
#include "../code_observer.hpp"
#include "eh_frame.hpp"

// The unwinder's registration entry points (libgcc_s and LLVM libunwind both
// export these names).
extern "C" void __register_frame(const void* begin);
extern "C" void __deregister_frame(const void* begin);
// Only LLVM's libunwind has this one; weak so that libgcc builds link.
extern "C" [[gnu::weak]] void __unw_add_dynamic_fde(std::uintptr_t fde);

namespace jitcm::observe {

enum class registration_style : std::uint8_t {
  whole_section,  ///< libgcc: __register_frame(section start)
  per_fde,        ///< LLVM libunwind: __register_frame(each FDE)
};

class unwind_registry final : public code_observer {
 public:
  [[nodiscard]] static registration_style detected_style() noexcept {
    return &__unw_add_dynamic_fde != nullptr ? registration_style::per_fde : registration_style::whole_section;
  }

  explicit unwind_registry(registration_style style = detected_style()) noexcept : style_{style} {}
  unwind_registry(const unwind_registry&) = delete;
  unwind_registry& operator=(const unwind_registry&) = delete;
  ~unwind_registry() {
    std::lock_guard lock{mutex_};
    // Newest first: the order libgcc's list finds fastest.
    std::vector<std::pair<std::uint64_t, const code*>> order;
    order.reserve(registrations_.size());
    for (const auto& [c, entry] : registrations_) order.emplace_back(entry.sequence, c);
    std::sort(order.begin(), order.end(), std::greater<>{});
    for (const auto& [sequence, c] : order) deregister(registrations_.at(c));
  }

  [[nodiscard]] registration_style style() const noexcept { return style_; }
  [[nodiscard]] std::size_t registered() const {
    std::lock_guard lock{mutex_};
    return registrations_.size();
  }
  [[nodiscard]] std::size_t rejected() const {
    std::lock_guard lock{mutex_};
    return rejected_;
  }

  void on_code_added(const code& c) noexcept override {
    if (c.unwind_info().empty()) return;
    auto section = eh_frame::rebase(c.unwind_info(), c.instruction_start());
    auto fdes = eh_frame::parse(c.unwind_info());
    std::lock_guard lock{mutex_};
    if (!section || !fdes) {
      ++rejected_;
      return;
    }
    registration entry{std::move(*section), {}, next_sequence_++};
    // An FDE's length field sits 8 bytes before its initial location.
    for (const eh_frame::fde& f : *fdes) entry.fde_starts.push_back(f.location_offset - 8);
    const auto placed = registrations_.emplace(&c, std::move(entry));
    register_frames(placed.first->second);
  }

  void on_code_freed(const code& c) noexcept override {
    std::lock_guard lock{mutex_};
    const auto found = registrations_.find(&c);
    if (found == registrations_.end()) return;
    deregister(found->second);
    registrations_.erase(found);
  }

 private:
  struct registration {
    std::vector<std::byte> section;       // rebased entries + terminator
    std::vector<std::size_t> fde_starts;  // offsets of the FDEs' length fields
    std::uint64_t sequence = 0;
  };

  void register_frames(const registration& entry) const noexcept {
    if (style_ == registration_style::whole_section) {
      __register_frame(entry.section.data());
    } else {
      for (std::size_t start : entry.fde_starts) __register_frame(entry.section.data() + start);
    }
  }
  void deregister(const registration& entry) const noexcept {
    if (style_ == registration_style::whole_section) {
      __deregister_frame(entry.section.data());
    } else {
      for (auto start = entry.fde_starts.rbegin(); start != entry.fde_starts.rend(); ++start) {
        __deregister_frame(entry.section.data() + *start);
      }
    }
  }

  registration_style style_;
  mutable std::mutex mutex_;
  std::unordered_map<const code*, registration> registrations_;
  std::uint64_t next_sequence_ = 0;
  std::size_t rejected_ = 0;
};

}  // namespace jitcm::observe
