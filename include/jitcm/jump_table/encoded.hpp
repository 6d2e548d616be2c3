// jump_table::encoded: the jump_table_emitter of a CPU, made from its
// slot_encoding (see slot_encoding.hpp): how a CPU is added.
#pragma once

#include "detail/machine_code_emitter.hpp"
#include "slot_encoding.hpp"

namespace jitcm::jump_table {

/// Layout, initialisation, atomic retargeting, cache flush and cross-core
/// sync of machine-code slots whose bytes `Encoding` produces. Thread
/// safety: as detail::machine_code_emitter states per member.
template <slot_encoding Encoding>
using encoded = detail::machine_code_emitter<Encoding>;

}  // namespace jitcm::jump_table
