// The host's default code allocator: jitcm::allocator::default_allocator<>.
#pragma once

#include "slabs.hpp"  // IWYU pragma: export

namespace jitcm::allocator {

/// The allocator jitcm uses unless told otherwise: slabs for small blocks
/// over TLSF (slab_tlsf).
template <protection::strategy Protection = protection::host_default>
using default_allocator = slab_tlsf<Protection>;

static_assert(code_allocator<default_allocator<>>, "jitcm: default_allocator must satisfy code_allocator");
}  // namespace jitcm::allocator
