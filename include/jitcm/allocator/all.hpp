// Every allocator header: disjoint_pool, the allocators, the concept.
#pragma once

#include "basic_allocator.hpp"    // IWYU pragma: export
#include "bump.hpp"               // IWYU pragma: export
#include "code_block.hpp"         // IWYU pragma: export
#include "commit_budget.hpp"      // IWYU pragma: export
#include "concept.hpp"            // IWYU pragma: export
#include "default_allocator.hpp"  // IWYU pragma: export
#include "disjoint_pool.hpp"      // IWYU pragma: export
#include "options.hpp"            // IWYU pragma: export
#include "pool.hpp"               // IWYU pragma: export
#include "slabs.hpp"              // IWYU pragma: export
#include "tlsf.hpp"               // IWYU pragma: export
