// The allocators the allocator benchmarks compare, behind the three calls the
// workloads make: jitcm's allocators under a W^X strategy, and asmjit's
// JitAllocator (default options, or dual mapping for a like-with-like
// comparison with jitcm's dual-mapping allocator).
#pragma once

#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#if defined(JITCM_BENCH_ASMJIT)
#include <asmjit/core.h>
#endif

namespace bench {

/// One jitcm allocator; a benchmark cannot go on without its blocks, so a
/// failure aborts. Where the allocator frees by executable address (tlsf,
/// pool), the handle is that address alone, 8 bytes as asmjit's: the
/// random-order free phase loads a handle per free, and a 24-byte
/// code_block triples the memory it walks.
template <class Allocator>
struct jitcm_subject {
  static constexpr bool by_address = requires(Allocator & a, std::uintptr_t p) { a.free(p); };
  using handle = std::conditional_t<by_address, std::uintptr_t, jitcm::code_block>;
  Allocator allocator;

  jitcm_subject() = default;
  explicit jitcm_subject(const jitcm::allocator::options& o) : allocator{o} {}

  handle allocate(std::size_t bytes) {
    auto b = allocator.allocate(bytes);
    if (!b) std::abort();
    if constexpr (by_address) {
      return b->executable();
    } else {
      return *b;
    }
  }
  void free(const handle& h) {
    if (!allocator.free(h)) std::abort();
  }
  std::size_t committed() const { return allocator.stats().committed; }
};

#if defined(JITCM_BENCH_ASMJIT)
/// asmjit's JitAllocator with `Options` (JitAllocatorOptions as an integer).
/// Its alloc and release lock a mutex of their own: one may be shared by
/// threads as it is.
template <std::uint32_t Options>
struct asmjit_subject {
  using handle = void*;
  asmjit::JitAllocator allocator{params()};

  handle allocate(std::size_t bytes) {
    void* rx = nullptr;
    void* rw = nullptr;
    if (allocator.alloc(&rx, &rw, bytes) != asmjit::kErrorOk) std::abort();
    return rx;
  }
  void free(handle h) {
    if (allocator.release(h) != asmjit::kErrorOk) std::abort();
  }
  // asmjit maps (commits) whole blocks: what it has reserved is committed.
  std::size_t committed() const { return allocator.statistics().reservedSize(); }

 private:
  static const asmjit::JitAllocator::CreateParams* params() {
    static const asmjit::JitAllocator::CreateParams p = [] {
      asmjit::JitAllocator::CreateParams out{};
      out.options = static_cast<asmjit::JitAllocatorOptions>(Options);
      return out;
    }();
    return &p;
  }
};

using asmjit_default = asmjit_subject<0>;
using asmjit_dual_mapping = asmjit_subject<static_cast<std::uint32_t>(asmjit::JitAllocatorOptions::kUseDualMapping)>;
#endif

namespace alloc = jitcm::allocator;
using default_subject = jitcm_subject<alloc::default_allocator<>>;  // slabs over TLSF
using default_dual_mapping = jitcm_subject<alloc::default_allocator<jitcm::protection::dual_mapping>>;
using default_mprotect = jitcm_subject<alloc::default_allocator<jitcm::protection::mprotect_toggle>>;
using tlsf_default = jitcm_subject<alloc::tlsf<>>;  // TLSF alone

}  // namespace bench
