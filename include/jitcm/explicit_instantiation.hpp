// Compile a manager type once: an explicit instantiation declaration in the
// header every TU of the JIT includes, and the one definition in one TU.
//
// | macro                                     | where           | effect |
// |-------------------------------------------|-----------------|--------|
// | `JITCM_EXTERN_CODE_MANAGER(A, J, L, T, R)` | your header, at global scope, before any use | TUs that include it do not compile the manager's, its modules' or pending code's out-of-line members, nor `add_code` without a relocation callback |
// | `JITCM_INSTANTIATE_CODE_MANAGER(A, J, L, T, R)` | one .cpp of yours, at global scope | compiles all of them there, once |
// | `JITCM_CODE_MANAGER_POLICIES`             | either          | the five policies of `jitcm::code_manager` (checked below) |
//
// The five arguments are the policies of `basic_code_manager<A, J, L, T, R>`,
// all spelled out (explicit instantiation names a template with its
// arguments, not an alias). A policy whose name has a comma in it goes in
// through an alias: `using my_allocator = jitcm::allocator::basic_allocator<P, F>;`.
// add_code with a relocation callback is instantiated where it is called,
// as before. Inline members (the small ones defined in the class) are still
// compiled where they are used, so that they can be inlined.
//
//     // my_jit/code_manager.hpp
//     #include <jitcm/explicit_instantiation.hpp>
//     using manager_type = jitcm::code_manager;
//     JITCM_EXTERN_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
//
//     // my_jit/code_manager.cpp
//     #include "code_manager.hpp"
//     JITCM_INSTANTIATE_CODE_MANAGER(JITCM_CODE_MANAGER_POLICIES);
//
// Separate compilation (<jitcm/separate_compilation.hpp>) goes further: with
// JITCM_SEPARATE_COMPILATION defined in every TU, jitcm's non-template
// functions (observers, W^X strategies, the trap handler) and
// jitcm::code_manager itself are compiled once, in the TU that includes
// <jitcm/separate_compilation.hpp> (code_manager.hpp then declares
// JITCM_CODE_MANAGER_POLICIES extern). There, use this recipe for managers
// of your own policies only; instantiating JITCM_CODE_MANAGER_POLICIES a
// second time is an error. A JIT with many TUs and its own policies uses
// both:
//
//     // my_jit/code_manager.cpp (every TU built with -DJITCM_SEPARATE_COMPILATION)
//     #include "code_manager.hpp"   // JITCM_EXTERN_CODE_MANAGER(my policies)
//     #include <jitcm/separate_compilation.hpp>
//     JITCM_INSTANTIATE_CODE_MANAGER(my_allocator, jitcm::jump_table::host, ...);
//
// examples/explicit_instantiation/ is such a program; README, "Compile
// time", has the figures.
#pragma once

#include <span>
#include <type_traits>
#include <vector>

/// The policies of jitcm::code_manager, in order.
#define JITCM_CODE_MANAGER_POLICIES                                                                 \
  ::jitcm::allocator::default_allocator<>, ::jitcm::jump_table::host, ::jitcm::lookup::segment_map, \
      ::jitcm::tiering::two_tier, ::jitcm::refcount::scoped

// `kind` is `extern` or nothing.
#define JITCM_DETAIL_CODE_MANAGER_TEMPLATES(kind, A, J, L, T, R)                                                       \
  kind template class ::jitcm::basic_code_manager<A, J, L, T, R>;                                                      \
  kind template class ::jitcm::native_module<A, J, L, T, R>;                                                           \
  kind template class ::jitcm::detail::pending_code<::jitcm::native_module<A, J, L, T, R>, A>;                         \
  kind template ::jitcm::result<::std::vector<::jitcm::published_code>>                                                \
      jitcm::native_module<A, J, L, T, R>::add_code<::jitcm::no_relocation>(::std::span<const ::jitcm::finished_code>, \
                                                                            ::jitcm::no_relocation &&)

/// Declares that basic_code_manager<A, J, L, T, R> is compiled in another TU.
#define JITCM_EXTERN_CODE_MANAGER(...) JITCM_DETAIL_CODE_MANAGER_TEMPLATES(extern, __VA_ARGS__)

/// Compiles basic_code_manager<A, J, L, T, R> here (one TU of the program).
#define JITCM_INSTANTIATE_CODE_MANAGER(...) JITCM_DETAIL_CODE_MANAGER_TEMPLATES(, __VA_ARGS__)

// After the macros: under separate compilation code_manager.hpp uses them
// (it declares jitcm::code_manager extern).
#include "code_manager.hpp"

static_assert(std::is_same_v<::jitcm::code_manager, ::jitcm::basic_code_manager<JITCM_CODE_MANAGER_POLICIES>>,
              "jitcm: JITCM_CODE_MANAGER_POLICIES no longer lists code_manager's default policies");
