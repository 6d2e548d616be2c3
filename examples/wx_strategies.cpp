// Reserve code memory, write a function under each W^X strategy, call it.
//
// The three strategies differ in how a JIT gets to write code:
// - mprotect_toggle: the pages are read-execute; a write scope makes them
//   read-write and turns them back when it ends;
// - dual_mapping:    the JIT writes through a second, read-write address of
//   the same memory; the executable address never becomes writable;
// - rwx:             the pages are writable and executable at once (unsafe).
//
// host_default picks for you: dual mapping where this process may use it,
// mprotect toggling otherwise (JITCM_WX=mprotect|dual_mapping forces one).
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/host_default.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <cstdio>
#include <cstring>

#include "machine_code.hpp"

template <class Strategy>
int write_and_call(int value) {
  auto space = Strategy::reserve(1 << 20);  // address space only
  if (!space) return std::printf("%s: reserve failed: %s\n", Strategy::name, space.error().message().c_str()), 1;

  const jitcm::address_region page{space->region().begin(), jitcm::platform::page_size()};
  if (auto committed = space->commit(page); !committed) {
    return std::printf("%s: commit failed: %s\n", Strategy::name, committed.error().message().c_str()), 1;
  }

  const example::return_constant code{static_cast<std::uint32_t>(value)};
  {
    auto scope = space->begin_write(page);
    if (!scope) return std::printf("%s: write refused: %s\n", Strategy::name, scope.error().message().c_str()), 1;
    std::memcpy(reinterpret_cast<void*>(space->writable(page.begin())), code.bytes.data(), code.size);
  }  // the scope ends: protection back at rest, instruction cache flushed

  const int returned = example::function_at(page.begin())();
  std::printf("%-16s wrote at %#lx, ran at %#lx, returned %d\n", Strategy::name,
              static_cast<unsigned long>(space->writable(page.begin())), static_cast<unsigned long>(page.begin()),
              returned);
  return returned == value ? 0 : 1;
}

int main() {
  const jitcm::protection::availability allowed = jitcm::protection::probe();
  int failures = 0;
  failures += write_and_call<jitcm::protection::mprotect_toggle>(1);
  if (!allowed.dual_mapping) {
    failures += write_and_call<jitcm::protection::dual_mapping>(2);
  } else {
    std::printf("dual_mapping     not allowed here: %s\n", allowed.dual_mapping.message().c_str());
  }
  if (!allowed.rwx) {
    failures += write_and_call<jitcm::protection::rwx>(3);
  } else {
    std::printf("rwx              not allowed here: %s\n", allowed.rwx.message().c_str());
  }
  failures += write_and_call<jitcm::protection::host_default>(4);
  std::printf("host_default     chose %s\n", jitcm::protection::host_default_strategy_name());
  return failures;
}
