// What a code space got when it was reserved: where it landed relative to the
// range it preferred (platform/placement.hpp) and what pages back it
// (platform/large_pages.hpp). Vocabulary only, no OS calls, so that the
// records allocators hand out can say it.
#pragma once

namespace jitcm::platform {

/// Where a reservation landed relative to the range it preferred.
enum class placement {
  anywhere,   ///< no range was preferred
  preferred,  ///< inside the preferred range
  fallback,   ///< outside it: no hint inside the range could be honoured
};

/// What pages back a code space.
enum class page_backing {
  normal,            ///< the base page size
  transparent_huge,  ///< transparent huge pages where the kernel can find them (large_page_size())
};

}  // namespace jitcm::platform
