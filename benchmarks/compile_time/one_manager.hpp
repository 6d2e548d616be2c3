// What a JIT does with one manager and one module, written once for every
// TU that measures it: allocate and publish, add finished code, look code
// up, retarget by tier-up, remove, collect. Include after the jitcm headers
// the TU measures.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>

namespace compile_time {

inline int use_one_manager(jitcm::code_manager& manager) {
  auto module = manager.new_module({.functions = 4, .lazy_entry = 0x1000});
  if (!module) return 1;
  auto& m = **module;
  jitcm::code_manager::code_ref_scope scope;
  static constexpr unsigned char ret[] = {0xC3};
  auto room = m.allocate(sizeof(ret));
  if (!room) return 2;
  std::memcpy(room->writable(), ret, sizeof(ret));
  auto published = m.publish(*room, {.index = 1, .tier = jitcm::tiering::two_tier::baseline});
  if (!published) return 3;
  const jitcm::finished_code batch[] = {
      {std::as_bytes(std::span{ret}), {.index = 2, .tier = jitcm::tiering::two_tier::optimized}}};
  auto added = m.add_code(batch);
  if (!added) return 4;
  const jitcm::code* found = manager.lookup(published->code->instruction_start(), scope);
  (void)m.remove(found);
  (void)m.flush_for_memory_pressure();
  const jitcm::code* live[] = {found};
  (void)manager.collect(live);
  return static_cast<int>(m.stats().code_objects + manager.stats().modules);
}

}  // namespace compile_time
