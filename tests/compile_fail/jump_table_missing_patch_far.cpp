// expect: jitcm: the jump_table_emitter policy must have static patch_far(const table_view&, std::uint32_t, std::uintptr_t) returning jitcm::result<void>
// An emitter that cannot retarget through its far slot is refused by name.
#include <jitcm/code_manager.hpp>
#include <jitcm/presets.hpp>

struct emitter_without_patch_far : private jitcm::jump_table::portable {
  using portable::call_target;
  using portable::code_bytes;
  using portable::current_target;
  using portable::data_bytes;
  using portable::far_slot_offset;
  using portable::far_slot_size;
  using portable::far_target_offset;
  using portable::far_target_size;
  using portable::has_machine_code;
  using portable::initialize;
  using portable::lazy_slot_offset;
  using portable::lazy_slot_size;
  using portable::max_code_space_size;
  using portable::name;
  using portable::near_range;
  using portable::near_slot_offset;
  using portable::near_slot_size;
  using portable::patch;
};

jitcm::with_jump_table<jitcm::code_manager, emitter_without_patch_far> manager;
