// The host's default code allocator: jitcm::allocator::default_allocator<>.
#pragma once

#include "tlsf.hpp"  // IWYU pragma: export

namespace jitcm::allocator {

/// The allocator jitcm uses unless told otherwise.
template <protection::strategy Protection = protection::host_default>
using default_allocator = tlsf<Protection>;

static_assert(code_allocator<default_allocator<>>, "jitcm: default_allocator must satisfy code_allocator");
}  // namespace jitcm::allocator
