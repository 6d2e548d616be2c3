// The name tools show for a code object: the JIT's name, or one made from
// what the code is when the JIT gave none.
#pragma once

#include <cstdio>
#include <string>

#include "../../base/code.hpp"

namespace jitcm::observe::detail {

/// c.name(), or "jitcm::function[<index>]", "jitcm::wrapper@<hex address>",
/// "jitcm::jump_table@<hex address>" for unnamed code.
[[nodiscard]] inline std::string display_name(const code& c) {
  if (!c.name().empty()) return std::string{c.name()};
  if (c.index()) return "jitcm::function[" + std::to_string(*c.index()) + "]";
  char address[2 + 16 + 1];
  std::snprintf(address, sizeof address, "%zx", static_cast<std::size_t>(c.instruction_start()));
  return std::string{c.kind() == code_kind::jump_table ? "jitcm::jump_table@" : "jitcm::wrapper@"} + address;
}

}  // namespace jitcm::observe::detail
