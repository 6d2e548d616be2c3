// Making freshly written or patched instructions visible to the CPUs that
// will run them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../base/config.hpp"
#include "../base/result.hpp"

namespace jitcm::platform {

/// Makes the instruction fetch of this and every other core see the bytes
/// written at [begin, begin + size) (executable addresses): a no-op on
/// x86-64, whose caches are coherent with instruction fetch; on AArch64 a
/// data-cache clean and instruction-cache invalidate by line, with the line
/// sizes read from CTR_EL0 on every call; on RISC-V fence.i and the kernel's
/// icache flush for all harts. Under Valgrind, its translations of the range
/// are dropped too. Thread safety: any thread.
JITCM_DECL void flush_instruction_cache(std::uintptr_t begin, std::size_t size) noexcept;

/// Forces every thread of this process through a context-synchronising event,
/// so that none keeps executing instructions it fetched before code was
/// patched. Needed after cross-modifying code on AArch64 and RISC-V (their
/// architectures require the executing core to synchronise); harmless
/// elsewhere. Uses membarrier's SYNC_CORE command, or its expedited barrier
/// (an IPI to every running thread, which also serialises them) where
/// SYNC_CORE is missing. Errors: unsupported when the kernel has neither.
/// Thread safety: any thread.
[[nodiscard]] JITCM_DECL result<void> synchronize_instruction_streams() noexcept;

}  // namespace jitcm::platform

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/instruction_cache.ipp"  // IWYU pragma: export
#endif
