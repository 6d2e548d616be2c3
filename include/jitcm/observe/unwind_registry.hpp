// observe::unwind_registry: registers each code object's unwind info
// (code_desc::unwind_info) with the C++ runtime's unwinder, so exceptions,
// backtrace() and _Unwind_Backtrace walk through JIT frames.
//
// | expression                       | result      | guarantees |
// |----------------------------------|-------------|------------|
// | `unwind_registry{}`              | —           | registers in the way the linked unwinder expects (`detected_style()`) |
// | `manager.add_observer(registry)` | —           | published code with unwind info is registered before on_code_added returns (so before it can run), taken out of use in on_code_freed, before its memory can be reused |
// | `registry.on_batch_end()` (by jitcm) | —       | the batch's code is re-registered as one section, and its per-function sections withdrawn |
// | `registry.registered()`          | `size_t`    | code objects registered now |
// | `registry.sections()`            | `size_t`    | sections the unwinder holds now |
// | `registry.rejected()`            | `size_t`    | code objects whose unwind info could not be parsed (see eh_frame::parse); they run, but unwinding stops at them |
// | `unwind_registry::detected_style()` | `registration_style` | per_fde when LLVM's libunwind is linked, whole_section with libgcc |
//
// How the runtimes differ (LLVM's RTDyldMemoryManager and Wasmtime do the
// same): libgcc's `__register_frame` takes a whole .eh_frame section ending
// with a zero terminator; LLVM libunwind's takes one FDE. libunwind is
// recognised by its `__unw_add_dynamic_fde` entry point.
//
// Cost: libgcc before GCC 13 keeps registered sections in a list. A
// deregistration searches it from the newest registration (or, after the
// first throw, from the highest address); the first throw sorts it by
// inserting each section in order (quadratic in sections); every later
// throw walks it for each frame below the JIT's addresses. So the registry
// keeps few sections: each batch (publish or add_code call) ends as one
// section. Freeing one function of a section that stays sets its FDE's
// range to 0 (no pc matches it any more; the unwinder reads FDEs from this
// memory whenever it searches), and the section goes when its last function
// does. jitcm frees a module's code in descending address order and the
// destructor goes from the newest section back, the orders libgcc's list
// finds fastest. bench_unwind_registration measures all of this against the
// bare calls. GCC 13's libgcc keeps a b-tree and does not care.
//
// Each section is a rebased copy of the code's entries owned here, so the
// unwinder never reads the code object's metadata.
//
// Thread safety: every member from any thread (one mutex; the runtime's
// registration functions lock too). Destroy the registry only after removing
// it from every manager; the destructor deregisters what is left.
#pragma once

#include "../base/config.hpp"

#if defined(JITCM_OS_WINDOWS)
// Windows registers RUNTIME_FUNCTIONs instead (windows_unwind.hpp's format).
#include "detail/windows_unwind_registry.hpp"
#else

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "../code_observer.hpp"

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

  explicit unwind_registry(registration_style style = detected_style());
  unwind_registry(const unwind_registry&) = delete;
  unwind_registry& operator=(const unwind_registry&) = delete;
  ~unwind_registry();

  [[nodiscard]] registration_style style() const noexcept { return style_; }
  /// Code objects whose unwind info is registered now.
  [[nodiscard]] std::size_t registered() const;
  /// Sections handed to the unwinder now (one per batch once it ends).
  [[nodiscard]] std::size_t sections() const;
  [[nodiscard]] std::size_t rejected() const;

  JITCM_DECL void on_code_added(const code& c) noexcept override;
  JITCM_DECL void on_code_freed(const code& c) noexcept override;
  /// The batch's sections become one: one entry in the unwinder's list per
  /// batch instead of one per function (libgcc before GCC 13 walks that
  /// list on every throw).
  JITCM_DECL void on_batch_end() noexcept override;

 private:
  struct section;
  struct placement;
  // The containers, out of the header: their instantiations cost every TU
  // that included it (README, "Compile time").
  struct tables;

  void merge_batch();
  /// Takes one FDE of a section that stays registered out of use: libunwind
  /// forgets it; for libgcc its range becomes 0, so no pc matches it (the
  /// unwinder reads FDEs from this memory whenever it searches).
  void retire_fde(section& home, std::size_t start) const noexcept;
  void own(std::unique_ptr<section> s);
  void register_frames(const section& s) const noexcept;
  void deregister(const section& s) const noexcept;

  registration_style style_;
  mutable std::mutex mutex_;
  tables* tables_;  // owned
  std::uint64_t next_sequence_ = 0;
  std::size_t rejected_ = 0;
};

}  // namespace jitcm::observe

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/unwind_registry.ipp"  // IWYU pragma: export
#endif

#endif  // JITCM_OS_WINDOWS
