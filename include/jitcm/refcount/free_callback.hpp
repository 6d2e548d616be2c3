// How a ref-counting policy gives dead code back to the module that made it.
#pragma once

#include "../base/code.hpp"

namespace jitcm::refcount {

/// Called once for each retired code object when no thread can still run or
/// use it. The module frees the code's instructions and deletes the object;
/// the policy never touches the object again. A plain function pointer plus
/// context, so that policies stay allocation-free and usable without RTTI.
struct free_callback {
  void (*function)(void* context, const code& dead) noexcept = nullptr;
  void* context = nullptr;

  void operator()(const code& dead) const noexcept {
    if (function) function(context, dead);
  }
};

}  // namespace jitcm::refcount
