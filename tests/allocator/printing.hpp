// Lets Catch print address regions in failed assertions. address_region has
// begin() and end() returning integers, which Catch would take for a range.
#pragma once

#include <ios>
#include <ostream>

#include <jitcm/address_region.hpp>

namespace jitcm {

inline std::ostream& operator<<(std::ostream& out, address_region r) {
  const auto flags = out.flags();
  out << "{0x" << std::hex << r.begin() << ", 0x" << r.size() << "}";
  out.flags(flags);
  return out;
}

}  // namespace jitcm
