// The part of a JIT the separate-compilation test splits over TUs: this
// header is what every TU of the JIT includes; compiler.cpp writes and
// publishes code, test_separate_compilation.cpp runs it, definitions.cpp
// compiles jitcm's non-template functions once. All of them are built with
// JITCM_SEPARATE_COMPILATION.
#pragma once

#include <cstdint>

#include <jitcm/code_manager.hpp>

namespace separate_test {

using module_type = jitcm::code_manager::module;

/// Publishes `int f() { return value; }` for function `index` at `tier`;
/// false when a call failed.
bool publish_constant(module_type& module, std::uint32_t index, std::uint32_t value, jitcm::tier tier);

/// Function `index` called through its slot (what every caller of the JIT does).
int call(const module_type& module, std::uint32_t index);

}  // namespace separate_test
