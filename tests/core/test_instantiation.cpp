// Every preset, and the with_* combinations of the shipped policies,
// instantiate in full; those that run on this CPU also run.
#include <tuple>
#include <type_traits>

#include "core_fixture.hpp"

using namespace jitcm::testing;

// Explicit instantiation of the defaults and of V8's combination, spelled out.
template class jitcm::basic_code_manager<>;
template class jitcm::native_module<jitcm::allocator::default_allocator<>, jitcm::jump_table::host,
                                    jitcm::lookup::sorted_map, jitcm::tiering::two_tier, jitcm::refcount::scoped>;
template class jitcm::basic_code_manager<jitcm::allocator::pool<>, jitcm::jump_table::host, jitcm::lookup::sorted_map,
                                         jitcm::tiering::v8, jitcm::refcount::scoped>;

namespace {

template <class... Lists>
struct concat;
template <class... A>
struct concat<std::tuple<A...>> {
  using type = std::tuple<A...>;
};
template <class... A, class... B, class... Rest>
struct concat<std::tuple<A...>, std::tuple<B...>, Rest...> {
  using type = typename concat<std::tuple<A..., B...>, Rest...>::type;
};

// The shipped policies of each family.
using allocators = std::tuple<jitcm::allocator::pool<>, jitcm::allocator::tlsf<>, jitcm::allocator::bump<>,
                              jitcm::allocator::pool<jitcm::protection::rwx>
#if defined(JITCM_HAS_DUAL_MAPPING)
                              ,
                              jitcm::allocator::default_allocator<jitcm::protection::dual_mapping>
#endif
                              >;
using jump_tables = std::tuple<jitcm::jump_table::host, jitcm::jump_table::portable, jitcm::jump_table::x64,
                               jitcm::jump_table::arm64, jitcm::jump_table::riscv64>;
using lookups =
    std::tuple<jitcm::lookup::sorted_map, jitcm::lookup::lock_free_array,
               jitcm::lookup::cached<jitcm::lookup::sorted_map>, jitcm::lookup::cached<jitcm::lookup::lock_free_array>>;
using tierings = std::tuple<jitcm::tiering::two_tier, jitcm::tiering::v8>;
using ref_countings = std::tuple<jitcm::refcount::scoped, jitcm::refcount::atomic_counts, jitcm::refcount::never>;

// with_allocator × with_jump_table over the defaults.
template <class Allocator, class JumpTables>
struct with_each_jump_table;
template <class Allocator, class... J>
struct with_each_jump_table<Allocator, std::tuple<J...>> {
  using type = std::tuple<jitcm::with_jump_table<jitcm::with_allocator<jitcm::code_manager, Allocator>, J>...>;
};
template <class Allocators>
struct allocator_by_jump_table;
template <class... A>
struct allocator_by_jump_table<std::tuple<A...>> {
  using type = typename concat<typename with_each_jump_table<A, jump_tables>::type...>::type;
};

// with_lookup × with_tiering × with_ref_counting over the defaults.
template <class Lookup, class Tiering, class RefCountings>
struct with_each_ref_counting;
template <class Lookup, class Tiering, class... R>
struct with_each_ref_counting<Lookup, Tiering, std::tuple<R...>> {
  using type = std::tuple<
      jitcm::with_ref_counting<jitcm::with_tiering<jitcm::with_lookup<jitcm::code_manager, Lookup>, Tiering>, R>...>;
};
template <class Lookup, class Tierings>
struct with_each_tiering;
template <class Lookup, class... T>
struct with_each_tiering<Lookup, std::tuple<T...>> {
  using type = typename concat<typename with_each_ref_counting<Lookup, T, ref_countings>::type...>::type;
};
template <class Lookups>
struct lookup_by_tiering_by_ref_counting;
template <class... L>
struct lookup_by_tiering_by_ref_counting<std::tuple<L...>> {
  using type = typename concat<typename with_each_tiering<L, tierings>::type...>::type;
};

using presets = std::tuple<jitcm::code_manager, jitcm::presets::v8_like, jitcm::presets::short_lived,
                           jitcm::presets::portable, jitcm::presets::signal_safe
#if defined(JITCM_HAS_DUAL_MAPPING)
                           ,
                           jitcm::presets::concurrent_tier_up
#endif
                           >;

using all_managers = typename concat<presets, typename allocator_by_jump_table<allocators>::type,
                                     typename lookup_by_tiering_by_ref_counting<lookups>::type>::type;

/// Instantiates every member of the manager and its module (taking their
/// addresses odr-uses them); returns whether the combination runs here.
template <class Manager>
constexpr bool instantiate_everything() {
  using module = typename Manager::module;
  (void)&Manager::new_module;
  (void)static_cast<const jitcm::code* (Manager::*)(std::uintptr_t) const noexcept>(&Manager::lookup);
  (void)static_cast<const jitcm::code* (Manager::*)(std::uintptr_t, typename Manager::code_ref_scope&) const>(
      &Manager::lookup);
  (void)&Manager::collect;
  (void)&Manager::flush_for_memory_pressure;
  (void)&Manager::estimate_memory_use;
  (void)&Manager::add_observer;
  (void)&Manager::remove_observer;
  (void)&Manager::stats;
  (void)&module::call_target;
  (void)&module::call_target_near;
  (void)&module::installed;
  (void)&module::allocate;
  (void)&module::publish;
  (void)&module::template add_code<jitcm::no_relocation>;
  (void)&module::remove_code;
  (void)&module::remove;
  (void)&module::flush_for_memory_pressure;
  (void)&module::stats;
  using emitter = typename Manager::jump_table_type;
  return std::is_same_v<emitter, jitcm::jump_table::host> || std::is_same_v<emitter, jitcm::jump_table::portable>;
}

template <class Manager>
void run_smoke_test() {
  Manager manager;
  auto created = manager.new_module({.functions = 2, .lazy_entry = lazy_entry()});
  REQUIRE(created);
  auto& module = **created;
  [[maybe_unused]] typename Manager::code_ref_scope scope;  // holds `c` under every policy
  const jitcm::code* c = publish_constant(module, 1, 7, jitcm::tier{2});
  CHECK(call(module, 1) == 7);
  CHECK(manager.lookup(c->instruction_start()) == c);
  auto removed = module.remove(c);
  REQUIRE(removed);
  CHECK(removed->count == 1);
  // qemu-user does not see a near slot rewritten through a second mapping
  // (cross builds define JITCM_TEST_ALIAS_REWRITES_UNSEEN); real CPUs do.
  constexpr bool dual_mapped = requires { typename Manager::allocator_type::protection_type; }
  &&!std::is_same_v<typename Manager::allocator_type::protection_type, jitcm::protection::mprotect_toggle> &&
      !std::is_same_v<typename Manager::allocator_type::protection_type, jitcm::protection::rwx>;
#if defined(JITCM_TEST_ALIAS_REWRITES_UNSEEN)
  constexpr bool rewrite_visible = !dual_mapped;
#else
  constexpr bool rewrite_visible = true;
  (void)dual_mapped;
#endif
  if constexpr (Manager::jump_table_type::has_machine_code && rewrite_visible) CHECK(call(module, 1) == lazy_result);
  (void)manager.collect({});
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("every preset and with_* combination instantiates, and runs where it can", "[core]",
                        all_managers) {
  if constexpr (instantiate_everything<TestType>()) {
    run_smoke_test<TestType>();
  } else {
    SUCCEED("instantiated; its jump tables are for another CPU");
  }
}

TEST_CASE("with_* replaces exactly one policy", "[core]") {
  using base = jitcm::code_manager;
  using replaced = jitcm::with_tiering<base, jitcm::tiering::v8>;
  STATIC_REQUIRE(std::is_same_v<replaced::tiering_type, jitcm::tiering::v8>);
  STATIC_REQUIRE(std::is_same_v<replaced::allocator_type, base::allocator_type>);
  STATIC_REQUIRE(std::is_same_v<replaced::jump_table_type, base::jump_table_type>);
  STATIC_REQUIRE(std::is_same_v<replaced::lookup_type, base::lookup_type>);
  STATIC_REQUIRE(std::is_same_v<replaced::ref_counting_type, base::ref_counting_type>);
  STATIC_REQUIRE(std::is_same_v<jitcm::with_tiering<replaced, jitcm::tiering::two_tier>, base>);
  STATIC_REQUIRE(std::tuple_size_v<all_managers> >= 50);
}
