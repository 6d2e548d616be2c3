// Declarations of jitcm's core types, for headers that only name them (a
// member `manager_type::module*`, a function taking `const jitcm::code&`)
// and should not pay for their definitions: it includes nothing.
//
// | name                                   | defined in |
// |----------------------------------------|------------|
// | `basic_code_manager<A, J, L, T, R>`    | `<jitcm/code_manager.hpp>` (its default policies and `code_manager` too) |
// | `native_module<A, J, L, T, R>`         | `<jitcm/native_module.hpp>` |
// | `code`, `code_desc`                    | `<jitcm/code.hpp>` |
// | `address_region`                       | `<jitcm/address_region.hpp>` |
// | `code_observer`                        | `<jitcm/code_observer.hpp>` |
// | `module_options`, `published_code`, `removed_code`, `module_stats`, `finished_code` | `<jitcm/module_options.hpp>` |
// | `code_manager_options`, `code_manager_stats` | `<jitcm/code_manager.hpp>` |
//
// `code_manager` itself is an alias with default arguments, which only its
// own header can give; name your manager type through a header of your own
// that includes code_manager.hpp once (see README, "Compile time").
//
//     // my_jit/module_ref.hpp
//     #include <jitcm/fwd.hpp>
//     struct function_ref {
//       const jitcm::code* code;  // no jitcm definitions needed here
//     };
#pragma once

namespace jitcm {

class address_region;
class code;
struct code_desc;
class code_observer;

struct module_options;
struct published_code;
struct removed_code;
struct module_stats;
struct finished_code;

struct code_manager_options;
struct code_manager_stats;

template <class Allocator, class JumpTable, class Lookup, class Tiering, class RefCounting>
class native_module;

template <class Allocator, class JumpTable, class Lookup, class Tiering, class RefCounting>
class basic_code_manager;

}  // namespace jitcm
