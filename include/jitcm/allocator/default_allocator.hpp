// The host's default code allocator: jitcm::allocator::default_allocator<>.
#pragma once

#include "slabs.hpp"  // IWYU pragma: export

namespace jitcm::allocator {

/// The allocator jitcm uses unless told otherwise: slabs for small blocks
/// over TLSF (slab_tlsf).
template <class Protection = protection::host_default>
using default_allocator = slab_tlsf<Protection>;
}  // namespace jitcm::allocator
