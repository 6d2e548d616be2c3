// One plain sentence per missing member for the allocator and jump-table
// policy families (the lookup, tiering and ref-counting families carry
// their own checks next to their concepts).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>

#include "../allocator/concept.hpp"
#include "../jump_table/concept.hpp"

namespace jitcm::detail {

template <class A>
concept has_allocator_types = requires {
  typename A::options;
  typename A::block;
  typename A::write_scope;
};

template <class A, bool = has_allocator_types<A>>
struct allocator_members {
  static constexpr bool constructible = false, allocate = false, allocate_in_region = false, free = false,
                        begin_write = false, writable = false, code_spaces = false, contains = false, stats = false,
                        options = false;
};

template <class A>
struct allocator_members<A, true> {
  using block = typename A::block;
  static constexpr bool constructible = std::constructible_from<A, const typename A::options&>;
  static constexpr bool allocate = requires(A& a, std::size_t n) {
    { a.allocate(n) } -> std::same_as<result<block>>;
  };
  static constexpr bool allocate_in_region = requires(A& a, std::size_t n, address_region r) {
    { a.allocate_in_region(n, r) } -> std::same_as<result<block>>;
  };
  static constexpr bool free = requires(A& a, const block& b) {
    { a.free(b) } -> std::same_as<result<void>>;
  };
  static constexpr bool begin_write = requires(A& a, address_region r) {
    { a.begin_write(r) } -> std::same_as<result<typename A::write_scope>>;
  };
  static constexpr bool writable = requires(const A& a, std::uintptr_t p) {
    { a.writable(p) } -> std::same_as<std::uintptr_t>;
  };
  static constexpr bool code_spaces = requires(const A& a) {
    { a.code_spaces() } -> std::ranges::sized_range;
  };
  static constexpr bool contains = requires(const A& a, std::uintptr_t p) {
    { a.contains(p) } -> std::same_as<bool>;
  };
  static constexpr bool stats = requires(const A& a) {
    { a.stats() } -> std::same_as<allocator_stats>;
  };
  static constexpr bool options = requires(typename A::options o) {
    { o.max_code_space_size } -> std::convertible_to<std::size_t>;
    { o.budget } -> std::convertible_to<commit_budget*>;
    { o.space_code_header } -> std::convertible_to<std::size_t>;
    { o.space_data_header } -> std::convertible_to<std::size_t>;
  };
};

/// Checks an allocator policy member by member; basic_code_manager does
/// `static_assert(detail::check_code_allocator<A>());`.
template <class A>
consteval bool check_code_allocator() {
  static_assert(std::default_initializable<A>, "jitcm: the code_allocator policy must be default-constructible");
  static_assert(requires { typename A::options; }, "jitcm: the code_allocator policy must have an options type");
  static_assert(requires { typename A::block; }, "jitcm: the code_allocator policy must have a block type");
  static_assert(requires { typename A::write_scope; },
                "jitcm: the code_allocator policy must have a write_scope type");
  if constexpr (has_allocator_types<A>) {
    using members = allocator_members<A>;
    static_assert(members::constructible,
                  "jitcm: the code_allocator policy must be constructible from const options&");
    static_assert(members::options,
                  "jitcm: the code_allocator policy's options must have max_code_space_size, budget, "
                  "space_code_header and space_data_header");
    static_assert(code_block_like<typename A::block>,
                  "jitcm: the code_allocator policy's block must have rx(), rw(), size() and region()");
    static_assert(members::allocate,
                  "jitcm: the code_allocator policy must have allocate(std::size_t) returning jitcm::result<block>");
    static_assert(members::allocate_in_region,
                  "jitcm: the code_allocator policy must have allocate_in_region(std::size_t, address_region) "
                  "returning jitcm::result<block>");
    static_assert(members::free,
                  "jitcm: the code_allocator policy must have free(const block&) returning jitcm::result<void>");
    static_assert(members::begin_write,
                  "jitcm: the code_allocator policy must have begin_write(address_region) returning "
                  "jitcm::result<write_scope>");
    static_assert(members::writable,
                  "jitcm: the code_allocator policy must have writable(std::uintptr_t) const returning "
                  "std::uintptr_t");
    static_assert(members::code_spaces,
                  "jitcm: the code_allocator policy must have code_spaces() const returning a sized range of "
                  "code_space");
    static_assert(members::contains,
                  "jitcm: the code_allocator policy must have contains(std::uintptr_t) const returning bool");
    static_assert(members::stats,
                  "jitcm: the code_allocator policy must have stats() const returning allocator_stats");
  }
  return code_allocator<A>;
}

/// Checks a jump-table emitter member by member; basic_code_manager does
/// `static_assert(detail::check_jump_table_emitter<J>());`.
template <class J>
consteval bool check_jump_table_emitter() {
  using jump_table::table_view;
  static_assert(requires { { J::has_machine_code } -> std::convertible_to<bool>; },
                "jitcm: the jump_table_emitter policy must have a static constexpr bool has_machine_code");
  static_assert(requires { { J::max_code_space_size } -> std::convertible_to<std::size_t>; },
                "jitcm: the jump_table_emitter policy must have a static constexpr max_code_space_size");
  static_assert(requires(std::size_t n) {
                  { J::code_bytes(n) } -> std::same_as<std::size_t>;
                  { J::data_bytes(n) } -> std::same_as<std::size_t>;
                },
                "jitcm: the jump_table_emitter policy must have static code_bytes(std::size_t) and "
                "data_bytes(std::size_t)");
  static_assert(requires(std::size_t i) { { J::lazy_slot_offset(i) } -> std::convertible_to<std::size_t>; },
                "jitcm: the jump_table_emitter policy must have static lazy_slot_offset(std::size_t)");
  static_assert(requires(const table_view& v, std::uintptr_t entry) {
                  { J::initialize(v, entry) } -> std::same_as<result<void>>;
                },
                "jitcm: the jump_table_emitter policy must have static initialize(const table_view&, "
                "std::uintptr_t) returning jitcm::result<void>");
  static_assert(requires(const table_view& v, std::uint32_t i) {
                  { J::call_target(v, i) } -> std::same_as<std::uintptr_t>;
                },
                "jitcm: the jump_table_emitter policy must have static call_target(const table_view&, "
                "std::uint32_t) returning std::uintptr_t");
  static_assert(requires(const table_view& v, std::uint32_t i, std::uintptr_t t, jump_table::already_writable o) {
                  { J::patch(v, i, t, o) } -> std::same_as<result<void>>;
                },
                "jitcm: the jump_table_emitter policy must have static patch(const table_view&, std::uint32_t, "
                "std::uintptr_t, opener) returning jitcm::result<void>");
  static_assert(requires(const table_view& v, std::uint32_t i, std::uintptr_t t) {
                  { J::patch_far(v, i, t) } -> std::same_as<result<void>>;
                },
                "jitcm: the jump_table_emitter policy must have static patch_far(const table_view&, "
                "std::uint32_t, std::uintptr_t) returning jitcm::result<void>");
  return jump_table_emitter<J>;
}

}  // namespace jitcm::detail
