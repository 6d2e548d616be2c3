// Code objects for policy tests: the policies only read a code's address
// range and attributes, so the instructions need not be real memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <jitcm/base/code.hpp>

namespace jitcm::testing {

inline std::unique_ptr<jitcm::code> make_code(std::uintptr_t begin, std::size_t size,
                                              std::optional<std::uint32_t> index = 0, jitcm::tier tier = jitcm::tier{1},
                                              jitcm::debug_kind debug = jitcm::debug_kind::none) {
  jitcm::code_desc desc;
  desc.instructions = {begin, size};
  desc.index = index;
  desc.kind = index ? jitcm::code_kind::function : jitcm::code_kind::wrapper;
  desc.tier = tier;
  desc.debug = debug;
  auto created = jitcm::code::create(desc);
  return created ? std::move(*created) : nullptr;
}

}  // namespace jitcm::testing
