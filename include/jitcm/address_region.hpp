// The public spelling of jitcm::address_region that DESIGN.md fixes; the
// type lives with the other vocabulary types in base/.
#pragma once

#include "base/address_region.hpp"
