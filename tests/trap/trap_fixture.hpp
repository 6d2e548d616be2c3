// What the trap tests share: tiny functions in host machine code (a load
// through the first argument, landing pads), a manager with a signal-safe
// lookup, a guard page, and a "previous handler" that records the faults
// handed to it and jumps back to the test.
#pragma once

#include <setjmp.h>
#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <jitcm/jitcm.hpp>
#include <jitcm/trap_handler.hpp>

#include "catch.hpp"

namespace jitcm::testing {

/// Host machine code, 4-byte words on every CPU (x86-64 bytes padded with int3).
struct machine_code {
  std::vector<std::byte> bytes;

  void put(std::initializer_list<std::uint8_t> raw) {
    for (std::uint8_t b : raw) bytes.push_back(std::byte{b});
  }
  void put32(std::uint32_t word) {
    const std::size_t at = bytes.size();
    bytes.resize(at + 4);
    std::memcpy(bytes.data() + at, &word, 4);
  }
  [[nodiscard]] std::uint32_t offset() const { return static_cast<std::uint32_t>(bytes.size()); }
  [[nodiscard]] std::span<const std::byte> span() const { return bytes; }
};

/// `int f(const int* p) { return *p; }`. `load_offset` is the load's offset,
/// `return_offset` the return's.
struct load_function {
  machine_code code;
  std::uint32_t load_offset = 0;
  std::uint32_t return_offset = 0;

  load_function() {
#if defined(JITCM_ARCH_X64)
    if constexpr (jitcm::jump_table::x64_landing_pads) code.put32(0xFA1E0FF3);  // endbr64
    load_offset = code.offset();
    code.put({0x8B, 0x07});  // mov (%rdi), %eax
    return_offset = code.offset();
    code.put({0xC3, 0xCC});  // ret
#elif defined(JITCM_ARCH_ARM64)
    if constexpr (jitcm::jump_table::arm64_landing_pads) code.put32(0xD503245F);  // bti c
    load_offset = code.offset();
    code.put32(0xB9400000);  // ldr w0, [x0]
    return_offset = code.offset();
    code.put32(0xD65F03C0);                            // ret
#elif defined(JITCM_ARCH_RISCV64)
    load_offset = code.offset();
    code.put32(0x00052503);  // lw a0, 0(a0)
    return_offset = code.offset();
    code.put32(0x00008067);                                   // ret
#endif
  }
};

/// Landing pads: `return value;` (value < 2048), or return the low 32 bits
/// of argument register 0 or 1 (where the handler puts the faulting pc and
/// the fault address).
inline machine_code return_constant(std::uint32_t value) {
  machine_code code;
#if defined(JITCM_ARCH_X64)
  code.put({0xB8});  // mov $value, %eax
  code.put32(value);
  code.put({0xC3, 0xCC, 0xCC});  // ret
#elif defined(JITCM_ARCH_ARM64)
  code.put32(0x52800000u | ((value & 0xFFFFu) << 5));  // movz w0, #value
  code.put32(0xD65F03C0);                              // ret
#elif defined(JITCM_ARCH_RISCV64)
  code.put32(((value & 0xFFFu) << 20) | (10u << 7) | 0x13u);  // addi a0, zero, value
  code.put32(0x00008067);                                     // ret
#endif
  return code;
}

inline machine_code return_argument(int which) {
  machine_code code;
#if defined(JITCM_ARCH_X64)
  code.put({0x89, static_cast<std::uint8_t>(which == 0 ? 0xF8 : 0xF0)});  // mov %edi / %esi, %eax
  code.put({0xC3, 0xCC});                                                 // ret
#elif defined(JITCM_ARCH_ARM64)
  code.put32(which == 0 ? 0x2A0003E0u : 0x2A0103E0u);  // mov w0, w0 / w1
  code.put32(0xD65F03C0);                              // ret
#elif defined(JITCM_ARCH_RISCV64)
  code.put32(which == 0 ? 0x0005051Bu : 0x0005851Bu);         // sext.w a0, a0 / a1
  code.put32(0x00008067);                                     // ret
#endif
  return code;
}

/// What the landing pads of the tests return.
/// Reads address 0: a fault outside JIT code. Not instrumented: the
/// undefined-behaviour sanitizer would report the null load and abort
/// instead of letting it fault, which is what these tests need.
[[gnu::noinline, gnu::no_sanitize("undefined")]] inline void fault_outside_jit_code() {
  volatile int* volatile nowhere = nullptr;
  (void)*nowhere;
}

inline constexpr int trapped = 1001;
inline constexpr int trapped_elsewhere = 1002;

using manager_type = jitcm::code_manager;  // its lookup, segment_map, is async-signal-safe
using module_ptr = manager_type::module_ptr;

/// The one place the tests publish code (wrappers: no function slot, alive
/// until removed). Returns nullptr on failure: worker threads call it too,
/// and Catch's assertions are for the main thread only.
template <class Module>
const jitcm::code* publish(Module& module, std::span<const std::byte> bytes,
                           std::span<const std::uint32_t> protected_offsets = {}) {
  auto room = module.allocate(bytes.size());
  if (!room) return nullptr;
  std::memcpy(room->writable(), bytes.data(), bytes.size());
  jitcm::code_desc desc;
  desc.kind = jitcm::code_kind::wrapper;
  desc.protected_instructions = protected_offsets;
  // Wrappers live until removed, so the pointer outlives this scope, which
  // only lends it (publish hands code out held).
  [[maybe_unused]] typename Module::ref_counting_type::scope scope;
  auto published = module.publish(*room, desc);
  return published ? published->code : nullptr;
}

inline module_ptr new_module(manager_type& manager) {
  auto module = manager.new_module({});
  REQUIRE(module);
  return std::move(*module);
}

inline int call_load(std::uintptr_t function, const void* from) {
  return reinterpret_cast<int (*)(const void*)>(function)(from);
}
inline int call_load(const jitcm::code* function, const void* from) {
  return call_load(function->instruction_start(), from);
}

/// A module with a protected load, the same load unprotected, and a pad.
struct jit_functions {
  explicit jit_functions(manager_type& manager, int pad_result = trapped) : module{new_module(manager)} {
    const load_function load;
    const std::uint32_t load_offset[] = {load.load_offset};
    const std::uint32_t return_offset[] = {load.return_offset};
    protected_load = publish(*module, load.code.span(), load_offset);
    unprotected_load = publish(*module, load.code.span(), return_offset);
    pad = publish(*module, return_constant(static_cast<std::uint32_t>(pad_result)).span());
    REQUIRE(protected_load);
    REQUIRE(unprotected_load);
    REQUIRE(pad);
    load_pc = protected_load->instruction_start() + load.load_offset;
    unprotected_load_pc = unprotected_load->instruction_start() + load.load_offset;
  }

  module_ptr module;
  const jitcm::code* protected_load = nullptr;
  const jitcm::code* unprotected_load = nullptr;
  const jitcm::code* pad = nullptr;
  std::uintptr_t load_pc = 0;
  std::uintptr_t unprotected_load_pc = 0;
};

/// One inaccessible page: every load from it faults.
class guard_page {
 public:
  guard_page() {
    auto reserved = jitcm::platform::reserve(jitcm::platform::page_size());
    REQUIRE(reserved);
    region_ = *reserved;
  }
  guard_page(const guard_page&) = delete;
  guard_page& operator=(const guard_page&) = delete;
  ~guard_page() { (void)jitcm::platform::unmap(region_); }

  [[nodiscard]] const void* pointer() const { return region_.pointer<const void>(); }
  [[nodiscard]] std::uintptr_t address() const { return region_.begin(); }

 private:
  jitcm::address_region region_;
};

// The "previous handler": installed before jitcm's, it records what reached
// it and jumps back to the test (with siglongjmp, as a crash handler or a
// sandbox's handler might), or, when no test waits, dies by default.

struct forwarded_fault {
  int signal = 0;
  std::uintptr_t pc = 0;
  std::uintptr_t address = 0;
  std::uintptr_t handler_stack = 0;  ///< an address on the stack the handler ran on
};

inline std::atomic<int> forwarded_count{0};
inline thread_local forwarded_fault last_forwarded{};
inline thread_local sigjmp_buf recovery;
// volatile: the stores around `body` in reaches_previous_handler must not be
// moved across the faulting access (a plain load the compiler may reorder).
inline thread_local volatile bool recovery_armed = false;

inline void previous_handler(int signal, siginfo_t* info, void* context) {
  forwarded_count.fetch_add(1);
  volatile char on_stack = 0;
  last_forwarded = {signal, jitcm::platform::signal_context{context}.pc(),
                    reinterpret_cast<std::uintptr_t>(info->si_addr), reinterpret_cast<std::uintptr_t>(&on_stack)};
  if (recovery_armed) {
    recovery_armed = false;
    siglongjmp(recovery, 1);
  }
  ::signal(signal, SIG_DFL);
}

/// Runs `body`; true when a fault in it reached previous_handler.
template <class Body>
bool reaches_previous_handler(Body body) {
  recovery_armed = true;
  if (sigsetjmp(recovery, 1) != 0) return true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  body();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  recovery_armed = false;
  return false;
}

/// For the test's length: previous_handler installed for SIGSEGV and SIGBUS,
/// and jitcm's handler over it. Puts everything back at the end.
class handlers_installed {
 public:
  explicit handlers_installed(const jitcm::trap::handler_options& options = {}) {
    auto original = jitcm::platform::current_fault_dispositions();
    REQUIRE(original);
    original_ = *original;
    struct sigaction action {};
    action.sa_sigaction = &previous_handler;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    REQUIRE(::sigaction(SIGSEGV, &action, nullptr) == 0);
    REQUIRE(::sigaction(SIGBUS, &action, nullptr) == 0);
    forwarded_count.store(0);
    REQUIRE(jitcm::trap::install(options));
  }
  handlers_installed(const handlers_installed&) = delete;
  handlers_installed& operator=(const handlers_installed&) = delete;
  ~handlers_installed() {
    (void)jitcm::trap::uninstall();
    (void)jitcm::platform::restore_fault_dispositions(original_);
  }

 private:
  jitcm::platform::fault_dispositions original_;
};

/// `manager` attached to the trap handler with `pad` as its landing pad.
inline jitcm::trap::registration attached(const manager_type& manager, const jitcm::code* pad) {
  auto registration = jitcm::trap::attach(manager, pad->instruction_start());
  REQUIRE(registration);
  return std::move(*registration);
}

/// The usual scene: both handlers installed, a manager with jit_functions,
/// attached with their pad, and a guard page.
struct attached_jit {
  handlers_installed handlers;
  manager_type manager;
  jit_functions jit{manager};
  guard_page guard;
  jitcm::trap::registration registration = attached(manager, jit.pad);
};

}  // namespace jitcm::testing
