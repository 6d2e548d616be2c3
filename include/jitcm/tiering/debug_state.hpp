// The per-module state the shipped tiering policies decide on.
#pragma once

namespace jitcm::tiering {

/// Whether a debugger is attached to the module. While it is, the shipped
/// policies install only code compiled for debugging (V8's `kDebugging`).
/// Thread safety: a plain value owned by the module, read under the module's
/// lock; the module's setter changes it under that lock.
struct debug_state {
  bool debugging = false;
};

}  // namespace jitcm::tiering
