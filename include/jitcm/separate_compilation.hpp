// The definitions of jitcm's non-template functions, for programs that
// compile them once instead of in every TU (Asio's and Boost's
// "separate compilation"):
//
// | step | where | effect |
// |------|-------|--------|
// | define `JITCM_SEPARATE_COMPILATION` | every TU of the program (a compiler flag: `-DJITCM_SEPARATE_COMPILATION`) | jitcm's headers declare those functions and leave their bodies out |
// | `#include <jitcm/separate_compilation.hpp>` | exactly one .cpp of the program | defines them there, not inline, once |
//
// Without the macro nothing changes: jitcm is header-only and every
// definition is `inline` in the headers. What moves out of line is what
// instantiates standard containers and algorithms in every TU: the free
// spaces of the allocators (tlsf, pool, bump, disjoint_pool, the block
// table's scans, the slab windows' tables), code::create and code's index
// and metadata spans, the writers of lookup::lock_free_array and
// lookup::sorted_map, the refcount domain and code_ref_scope's slow paths,
// the jump-table set's routing and list of tables, the jump tables'
// checks and RISC-V encodings, code tables' creation, the tiering
// policies' decisions, jitcm's error messages, the observers and their
// byte buffer, the platform layer (reservations, the dual mapping, signals,
// large pages, placement, the instruction cache) with the OS headers it
// needs, the tool files, the W^X strategies and the trap handler and its
// registry; hot one-line accessors, the allocators' per-block paths
// and lookups' find (lock_free_array's) stay inline. The macro must be the same in every
// TU (mixing the modes is an ODR violation). Templates stay in the headers,
// except jitcm::code_manager: under the macro <jitcm/code_manager.hpp>
// declares it extern and this header compiles it (the explicit-instantiation
// recipe of <jitcm/explicit_instantiation.hpp>, which a JIT applies to
// managers of its own policies).
//
//     // jit_build.cpp, compiled with -DJITCM_SEPARATE_COMPILATION like the rest
//     #include <jitcm/separate_compilation.hpp>
//
// examples/explicit_instantiation/ combines both; README, "Compile time",
// has the figures.
#pragma once

#if !defined(JITCM_SEPARATE_COMPILATION)
#error "jitcm: <jitcm/separate_compilation.hpp> needs JITCM_SEPARATE_COMPILATION defined in every TU of the program"
#endif

#include "code_manager.hpp"
#include "explicit_instantiation.hpp"
#include "allocator/detail/impl/block_table.ipp"
#include "allocator/detail/impl/code_space_set.ipp"
#include "allocator/detail/impl/slab_windows.ipp"
#include "allocator/detail/impl/word_mutex.ipp"
#include "allocator/impl/bump.ipp"
#include "allocator/impl/disjoint_pool.ipp"
#include "allocator/impl/pool.ipp"
#include "allocator/impl/tlsf.ipp"
#include "base/impl/code.ipp"
#include "base/impl/error.ipp"
#include "detail/impl/code_table.ipp"
#include "detail/impl/jump_table_set.ipp"
#include "impl/code_observer.ipp"
#include "jump_table/detail/impl/machine_code_emitter.ipp"
#include "jump_table/detail/impl/riscv64_encoding.ipp"
#include "jump_table/impl/portable.ipp"
#include "lookup/impl/lock_free_array.ipp"
#include "lookup/impl/sorted_map.ipp"
#include "observe/detail/impl/byte_buffer.ipp"
#include "observe/detail/impl/elf_image.ipp"
#include "observe/detail/impl/names.ipp"
#include "observe/impl/eh_frame.ipp"
#include "observe/impl/environment.ipp"
#include "observe/impl/gdb_jit.ipp"
#include "observe/impl/jitdump.ipp"
#include "observe/impl/perf_map.ipp"
#include "observe/impl/symbolizer.ipp"
#include "observe/impl/unwind_registry.ipp"
#include "platform/impl/dual_mapping.ipp"
#include "platform/impl/instruction_cache.ipp"
#include "platform/impl/large_pages.ipp"
#include "platform/impl/placement.ipp"
#include "platform/impl/reservation.ipp"
#include "platform/impl/signals.ipp"
#include "platform/impl/tool_files.ipp"
#include "platform/impl/virtual_memory.ipp"
#include "protection/impl/dual_mapping.ipp"
#include "protection/impl/dual_mapping_or_mprotect.ipp"
#include "protection/impl/mprotect_toggle.ipp"
#include "protection/impl/probe.ipp"
#include "protection/impl/rwx.ipp"
#include "refcount/detail/impl/domain.ipp"
#include "refcount/impl/code_ref_scope.ipp"
#include "tiering/impl/two_tier.ipp"
#include "tiering/impl/v8.ipp"
#include "trap/detail/impl/module_landing_pads.ipp"
#include "trap/detail/impl/registry.ipp"
#include "trap/impl/trap_handler.ipp"

// jitcm::code_manager, which code_manager.hpp declares extern under
// separate compilation.
JITCM_INSTANTIATE_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
