// What the core tests share: a lazy-compile entry that records which
// function it was entered for, and helpers that publish tiny functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <jitcm/jitcm.hpp>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

namespace jitcm::testing {

/// What a call through a slot returns while the function has no code.
inline constexpr int lazy_result = -1;

inline std::atomic<std::uint32_t> lazy_calls{0};
inline std::atomic<std::uint32_t> last_lazy_index{0xffffffffu};

inline int not_compiled() { return lazy_result; }

/// The lazy-compile handler: records the index and continues the call in a
/// function returning lazy_result.
inline std::uintptr_t record_lazy_call(std::uint32_t index) {
  last_lazy_index.store(index);
  lazy_calls.fetch_add(1);
  return reinterpret_cast<std::uintptr_t>(&not_compiled);
}

inline std::uintptr_t lazy_entry() {
  auto entry = jitcm::jump_table::lazy_trampoline(&record_lazy_call);
  REQUIRE(entry);
  return *entry;
}

/// What call_unchecked returns for an index without a slot.
inline constexpr int no_slot = -2;

/// Calls function `index` of `module` through its stable slot, asserting
/// nothing (Catch's assertions are for the main thread only).
template <class Module>
int call_unchecked(const Module& module, std::uint32_t index) {
  auto slot = module.call_target(index);
  if (!slot) return no_slot;
  if constexpr (Module::jump_table_type::has_machine_code) {
    return example::function_at(*slot)();
  } else {
    return example::function_at(*reinterpret_cast<const std::uintptr_t*>(*slot))();
  }
}

/// Calls function `index` of `module` through its stable slot.
template <class Module>
int call(const Module& module, std::uint32_t index) {
  REQUIRE(module.call_target(index));
  return call_unchecked(module, index);
}

/// Room in `module` holding `int f() { return value; }`, written and not
/// yet published.
template <class Module>
typename Module::pending_code write_constant(Module& module, int value) {
  const example::return_constant bytes{static_cast<std::uint32_t>(value)};
  auto room = module.allocate(bytes.size);
  REQUIRE(room);
  std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
  return std::move(*room);
}

/// Publishes `int f() { return value; }` for function `index` through
/// allocate → write → publish. Returns the code, held by the thread's
/// innermost scope (nullptr without one, unless the policy needs none).
template <class Module>
const jitcm::code* publish_constant(Module& module, std::uint32_t index, int value, jitcm::tier tier,
                                    jitcm::debug_kind debug = jitcm::debug_kind::none) {
  auto room = write_constant(module, value);
  auto c = module.publish(
      room, {.instructions = {0, example::return_constant::size}, .index = index, .tier = tier, .debug = debug});
  REQUIRE(c);
  return c->code;
}

/// The machine code of `return value`, as bytes for add_code.
struct constant_bytes {
  explicit constant_bytes(int value) : code{static_cast<std::uint32_t>(value)} {}
  [[nodiscard]] std::span<const std::byte> span() const { return code.bytes; }
  example::return_constant code;
};

}  // namespace jitcm::testing
