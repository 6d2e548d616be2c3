// A second translation unit including the trampoline: the program must still
// link with exactly one copy of it.
#include <jitcm/jump_table/lazy_trampoline.hpp>

std::uintptr_t trampoline_address_from_second_unit() {
  return reinterpret_cast<std::uintptr_t>(&jitcm_lazy_trampoline);
}
