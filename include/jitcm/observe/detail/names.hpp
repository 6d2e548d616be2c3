// The name tools show for a code object: the JIT's name, or one made from
// what the code is when the JIT gave none.
#pragma once

#include <string>

#include "../../base/config.hpp"

namespace jitcm {
class code;
}  // namespace jitcm

namespace jitcm::observe::detail {

/// c.name(), or "jitcm::function[<index>]", "jitcm::wrapper@<hex address>",
/// "jitcm::jump_table@<hex address>" for unnamed code.
[[nodiscard]] JITCM_DECL std::string display_name(const code& c);

}  // namespace jitcm::observe::detail

#if !defined(JITCM_SEPARATE_COMPILATION)
#include "impl/names.ipp"  // IWYU pragma: export
#endif
