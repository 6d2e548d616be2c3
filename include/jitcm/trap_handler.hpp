// Trap handling for protected instructions: a process-wide SIGSEGV/SIGBUS
// handler that turns a fault at an instruction the JIT marked protected
// (code_desc::protected_instructions) into a jump to a landing pad the JIT
// supplied, and hands every other fault to the handler that was there
// before. This is how a WebAssembly engine drops bounds checks: memory sits
// in a large reservation whose unmapped guard region catches every
// out-of-bounds access, and the fault becomes a trap the program can report.
//
// Opt-in: nothing here runs unless the embedder installs the handler and
// attaches a manager.
//
// | operation                                  | result                 | guarantees |
// |--------------------------------------------|------------------------|------------|
// | `trap::install(options)`                   | `result<void>`         | the handler serves SIGSEGV and SIGBUS (SA_SIGINFO \| SA_ONSTACK); installing again only updates the options; errors: the OS's errno, `unsupported` (Windows, for now) |
// | `trap::uninstall()`                        | `result<void>`         | the dispositions from before `install` are back, exactly; no-op if not installed; `busy` (nothing changed) if someone installed another handler over ours |
// | `trap::installed()`                        | `bool`                 | |
// | `trap::attach(manager, pad)`               | `result<registration>` | faults at protected instructions of code `manager.lookup(pc)` finds resume at `pad` (or the module's pad); compile error unless the manager's lookup is async-signal-safe; `limit_exceeded` past 16 registrations |
// | `trap::attach_lookup(lookup, pad)`         | `result<registration>` | the same for a lookup policy object of the embedder's own |
// | `r.set_module_landing_pad(module, pad)`    | `result<void>`         | faults in code whose `owner()` is `module` resume at `pad` instead; `limit_exceeded` past 32 modules |
// | `r.detach()` / `~registration`             | `void`                 | once it returns, no handler uses the lookup or the pads: the manager may be destroyed |
// | `trap::thread_in_jit_code_guard g;`        |                        | with `require_thread_in_jit_code`, faults are claimed only on threads inside such a guard |
// | `trap::last_fault()`                       | `trap::fault`          | the last fault claimed on this thread |
// | `trap::alternate_stack::create(bytes)`     | `result<alternate_stack>` | the calling thread handles signals on a stack of its own until the object is destroyed (on that thread) |
//
// The landing pad's contract. A claimed fault resumes the thread at the pad
// with every register as it was at the faulting instruction, except:
//   - the pc, which is the pad;
//   - argument register 0 (x86-64 rdi, AArch64 x0, RISC-V a0): the faulting pc;
//   - argument register 1 (x86-64 rsi, AArch64 x1, RISC-V a1): the fault address.
// The same two values are in `trap::last_fault()` on that thread. So a
// protected instruction must be one after which those two registers are
// dead, and the pad runs on the faulting code's stack frame: a pad for a
// leaf function can simply return an error value to its caller.
//
//     jitcm::trap::install().value();
//     auto registration = jitcm::trap::attach(manager, pad->instruction_start());
//     // ... publish code whose desc lists the offsets of its unchecked loads
//     // in protected_instructions; a load that hits the guard region now
//     // returns through `pad` ...
//
// Async-signal safety: the handler takes no lock, allocates nothing and
// calls only sigaction, raise and pthread_sigmask (async-signal-safe) when
// it chains. It searches each registration's lookup, which is why only
// lookups whose `lookup_traits<L>::async_signal_safe` is true may be
// attached, and dereferences the code it finds: code containing the faulting
// pc is code the faulting thread is running, which the ref-counting policy
// keeps alive. Faults raised by kill/raise/sigqueue are never claimed.
//
// Alternate stack: the handler needs about 1 KiB of stack beyond what the
// chained handler needs. A fault caused by a stack overflow can only be
// handled on an alternate stack: give every thread that runs JIT code one
// (`trap::alternate_stack`, or sigaltstack of your own); the handler is
// installed with SA_ONSTACK, so it uses it.
//
// Thread safety: install, uninstall, attach, detach and the pad setters may
// be called from any thread concurrently (they serialise on locks) but never
// from a signal handler. A fault delivered while uninstall runs may be
// forwarded either way. Free a landing pad's code only after detaching and
// once no thread can still be resuming there.
#pragma once

#include <atomic>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "detail/assert.hpp"
#include "base/address_region.hpp"
#include "base/code.hpp"
#include "base/config.hpp"
#include "base/error.hpp"
#include "lookup/concept.hpp"
#include "platform/signal_context.hpp"
#include "platform/signals.hpp"
#include "platform/virtual_memory.hpp"
#include "base/result.hpp"
#include "trap/detail/registry.hpp"
#include "trap/detail/thread_state.hpp"

namespace jitcm::trap {

/// How the handler decides to claim a fault.
struct handler_options {
  /// Claim faults only on threads inside a thread_in_jit_code_guard (V8's
  /// "thread in wasm" flag): a fault in JIT code that the embedder entered
  /// some other way (a debugger's call, a stray jump) then goes to the
  /// previous handler.
  bool require_thread_in_jit_code = false;
};

/// A lookup a signal handler may search: a code_lookup whose
/// `lookup_traits<L>::async_signal_safe` is true.
template <class L>
concept signal_safe_lookup = code_lookup<L> && lookup_traits<L>::async_signal_safe;

/// A code manager (anything with `lookup_type` and `lookup(pc)`) whose
/// lookup a signal handler may search.
template <class M>
concept signal_safe_manager = requires(const M& m, std::uintptr_t pc) {
  typename M::lookup_type;
  { m.lookup(pc) } -> std::same_as<const code*>;
}
&&signal_safe_lookup<typename M::lookup_type>;

/// Marks the calling thread as running JIT code for as long as it lives
/// (nests). Enter it around calls into JIT code when the handler was
/// installed with `require_thread_in_jit_code`. Thread safety: per thread.
class thread_in_jit_code_guard {
 public:
  thread_in_jit_code_guard() noexcept { ++detail::this_thread.jit_code_depth; }
  thread_in_jit_code_guard(const thread_in_jit_code_guard&) = delete;
  thread_in_jit_code_guard& operator=(const thread_in_jit_code_guard&) = delete;
  ~thread_in_jit_code_guard() { --detail::this_thread.jit_code_depth; }
};

/// Whether the calling thread is inside a thread_in_jit_code_guard. Async-signal-safe.
[[nodiscard]] inline bool thread_in_jit_code() noexcept { return detail::this_thread.jit_code_depth != 0; }

/// The last fault the handler claimed on the calling thread ({0, 0} if none).
[[nodiscard]] inline fault last_fault() noexcept { return detail::this_thread.last_claimed; }

/// One manager (or lookup) attached to the handler; detaches when destroyed.
/// Move-only. Thread safety: as the header says; a registration object
/// itself is used by one thread at a time.
class registration {
 public:
  registration() noexcept = default;
  registration(registration&& other) noexcept : slot_{std::exchange(other.slot_, nullptr)} {}
  registration& operator=(registration&& other) noexcept;
  ~registration();

  [[nodiscard]] bool attached() const noexcept { return slot_ != nullptr; }

  /// Stops the handler from searching this lookup; returns once no handler
  /// is inside it. Idempotent.
  void detach() noexcept;

  /// The pad for faults in code of modules without a pad of their own (0:
  /// such faults are not claimed). Once this returns no handler resumes a
  /// thread at the old pad. Errors: not_owned (detached).
  [[nodiscard]] result<void> set_landing_pad(std::uintptr_t pad) noexcept;
  [[nodiscard]] std::uintptr_t landing_pad() const noexcept { return slot_ ? slot_->landing_pad() : 0; }

  /// Faults in code whose `owner()` is `module` resume at `pad`. Errors:
  /// invalid_argument (null module or pad), limit_exceeded (32 modules
  /// already have one), not_owned (detached).
  [[nodiscard]] result<void> set_module_landing_pad(const void* module, std::uintptr_t pad) noexcept;

  /// `module`'s code uses the registration's pad again; once this returns no
  /// handler resumes a thread at the module's old pad. Errors: not_owned
  /// (detached, or the module had no pad).
  [[nodiscard]] result<void> clear_module_landing_pad(const void* module) noexcept;

 private:
  template <signal_safe_lookup L>
  friend result<registration> attach_lookup(const L& lookup, std::uintptr_t landing_pad) noexcept;

  explicit registration(detail::registration_slot* slot) noexcept : slot_{slot} {}

  detail::registration_slot* slot_ = nullptr;
};

/// Attaches a lookup policy object: the handler searches it with `find`.
/// The lookup must outlive the registration (or its detach). Errors:
/// limit_exceeded (16 registrations at once).
template <signal_safe_lookup L>
[[nodiscard]] result<registration> attach_lookup(const L& lookup, std::uintptr_t landing_pad) noexcept {
  const detail::code_finder finder{
      .find = [](const void* object, std::uintptr_t pc) noexcept { return static_cast<const L*>(object)->find(pc); },
      .lookup = &lookup,
  };
  auto slot = detail::registrations.open(finder, landing_pad);
  if (!slot) return forward_error(slot);
  return registration{*slot};
}

/// Attaches a code manager through its own lookup (`manager.lookup_policy()`):
/// code is claimable exactly while the manager finds it, from publish until
/// it is freed. The manager must outlive the registration (or its detach).
/// A manager whose lookup is not async-signal-safe does not compile.
template <class Manager>
[[nodiscard]] result<registration> attach(const Manager& manager, std::uintptr_t landing_pad) noexcept {
  static_assert(signal_safe_manager<Manager>,
                "jitcm::trap::attach: the manager's lookup policy is not async-signal-safe "
                "(jitcm::lookup_traits<L>::async_signal_safe is false); use a lookup such as "
                "jitcm::lookup::lock_free_array, e.g. jitcm::with_lookup<M, jitcm::lookup::lock_free_array>");
  return attach_lookup(manager.lookup_policy(), landing_pad);
}

#if !defined(JITCM_OS_WINDOWS)

/// An alternate signal stack for the calling thread, with an inaccessible
/// guard page below it, so the handler runs even when the fault is a stack
/// overflow. Create it on the thread that needs it and destroy it on that
/// thread (not while the thread runs on it): the destructor puts back the
/// stack the thread had and releases the memory. Move-only.
class alternate_stack {
 public:
  static constexpr std::size_t default_size = 64 * 1024;

  /// Errors: invalid_argument (smaller than MINSIGSTKSZ), size_overflow,
  /// address_space_exhausted, the OS's errno.
  [[nodiscard]] static result<alternate_stack> create(std::size_t bytes = default_size) noexcept;

  alternate_stack(alternate_stack&& other) noexcept;
  alternate_stack& operator=(alternate_stack&&) = delete;
  ~alternate_stack();

  /// The stack, guard page included.
  [[nodiscard]] address_region memory() const noexcept { return memory_; }

 private:
  explicit alternate_stack(address_region memory) noexcept;

  address_region memory_{};
  stack_t previous_{};
  bool active_ = false;
};

#endif

#if defined(JITCM_OS_WINDOWS)

// The Windows port will use a vectored exception handler
// (AddVectoredExceptionHandler) with the same registrations.
[[nodiscard]] inline result<void> install(const handler_options& = {}) noexcept { return failure{errc::unsupported}; }
[[nodiscard]] inline result<void> uninstall() noexcept { return failure{errc::unsupported}; }
[[nodiscard]] inline bool installed() noexcept { return false; }

#else

namespace detail {
/// The handler. Everything it needs from the handler's state is read before
/// it leaves the in-flight count, and it leaves before chaining: the chained
/// handler may never return (siglongjmp).
JITCM_DECL void on_fault(int signal, siginfo_t* info, void* raw_context);
}  // namespace detail

/// Installs the handler for SIGSEGV and SIGBUS, remembering what was there
/// for faults it does not claim. Installing again updates `options` only.
/// Errors: the OS's errno (nothing changed).
[[nodiscard]] JITCM_DECL result<void> install(const handler_options& options = {}) noexcept;

/// Puts back the dispositions from before install. Errors: busy (another
/// handler replaced ours; nothing changed), the OS's errno.
[[nodiscard]] JITCM_DECL result<void> uninstall() noexcept;

[[nodiscard]] JITCM_DECL bool installed() noexcept;

#endif  // JITCM_OS_WINDOWS

}  // namespace jitcm::trap

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "trap/impl/trap_handler.ipp"  // IWYU pragma: export
#endif
