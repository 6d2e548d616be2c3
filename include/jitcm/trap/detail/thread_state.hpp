// What the trap handler keeps per thread: whether the thread is inside JIT
// code (when the embedder marks it), and the last fault it claimed.
#pragma once

#include <cstdint>

namespace jitcm::trap {

/// A fault the trap handler claimed: the protected instruction that faulted
/// and the address it touched (si_addr).
struct fault {
  std::uintptr_t pc = 0;
  std::uintptr_t address = 0;

  friend constexpr bool operator==(const fault&, const fault&) noexcept = default;
};

namespace detail {

struct thread_state {
  unsigned jit_code_depth = 0;
  fault last_claimed{};
};

// Initial-exec TLS: reading it is a plain load at a fixed offset from the
// thread pointer, never a call that might allocate (general-dynamic TLS in a
// dlopen'ed library may), so the signal handler can use it. V8's
// g_thread_in_wasm_code is declared the same way.
#if defined(__GNUC__) || defined(__clang__)
[[gnu::tls_model("initial-exec")]]
#endif
inline constinit thread_local thread_state this_thread{};

}  // namespace detail
}  // namespace jitcm::trap
