// Definitions of <jitcm/observe/detail/names.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <cstdio>
#include <string>

#include "../../../base/code.hpp"
#include "../names.hpp"

namespace jitcm::observe::detail {

JITCM_DECL std::string display_name(const code& c) {
  if (!c.name().empty()) return std::string{c.name()};
  if (c.index()) return "jitcm::function[" + std::to_string(*c.index()) + "]";
  char address[2 + 16 + 1];
  std::snprintf(address, sizeof address, "%zx", static_cast<std::size_t>(c.instruction_start()));
  return std::string{c.kind() == code_kind::jump_table ? "jitcm::jump_table@" : "jitcm::wrapper@"} + address;
}

}  // namespace jitcm::observe::detail
