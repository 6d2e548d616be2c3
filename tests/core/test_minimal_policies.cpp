// The minimal conforming examples of every extension point's documentation,
// compiled and run: the five policies (minimal_policies.hpp), a W^X
// strategy, a free-space policy and a slot encoding. Each manager publishes
// one function and calls it; the traits fill in what the examples leave out.
#include <cstring>
#include <limits>

#include "minimal_policies.hpp"

#include <jitcm/allocator/allocator_traits.hpp>
#include <jitcm/allocator/basic_allocator.hpp>
#include <jitcm/code_manager.hpp>
#include <jitcm/jump_table/emitter_traits.hpp>
#include <jitcm/jump_table/encoded.hpp>
#include <jitcm/jump_table/host.hpp>
#include <jitcm/platform/instruction_cache.hpp>
#include <jitcm/platform/reservation.hpp>
#include <jitcm/presets.hpp>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

namespace {

// protection::strategy (strategy.hpp): no W^X at all, for illustration only.
struct everything_rwx {
  static constexpr const char* name = "everything_rwx";
  static constexpr bool write_revokes_execute = false;  // pages never lose X
  struct write_scope {
    jitcm::address_region written;
    jitcm::result<void> end() {
      jitcm::platform::flush_instruction_cache(written.begin(), written.size());
      written = {};
      return {};
    }
  };
  class space {
   public:
    explicit space(jitcm::platform::reservation memory) : memory_{std::move(memory)} {}
    jitcm::address_region region() const { return memory_.region(); }
    jitcm::result<void> commit(jitcm::address_region r) {
      return memory_.commit(r, jitcm::platform::access::read_write_execute);
    }
    jitcm::result<void> commit_data(jitcm::address_region r) {
      return memory_.commit(r, jitcm::platform::access::read_write);
    }
    jitcm::result<void> decommit(jitcm::address_region r) { return memory_.decommit(r); }
    std::uintptr_t writable(std::uintptr_t a) const { return a; }
    jitcm::result<write_scope> begin_write(jitcm::address_region r) {
      if (!region().contains(r)) return jitcm::failure{jitcm::errc::out_of_range};
      return write_scope{r};
    }

   private:
    jitcm::platform::reservation memory_;
  };
  static jitcm::result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0, std::size_t alignment = 0) {
    auto memory = jitcm::platform::reservation::reserve(bytes, hint, alignment);
    if (!memory) return jitcm::forward_error(memory);
    return space{std::move(*memory)};
  }
};
static_assert(jitcm::protection::strategy<everything_rwx>);

// allocator::free_space_policy (basic_allocator.hpp): hands out the first
// space once, never reuses room.
struct first_space_only {
  static constexpr bool returns_memory = false;
  explicit first_space_only(std::size_t) {}
  bool add_space(jitcm::address_region code) {
    if (rest.empty()) rest = code;
    return true;
  }
  jitcm::address_region allocate(std::size_t n) {
    return rest.size() < n ? jitcm::address_region{} : rest.take_front(n);
  }
  jitcm::address_region allocate_in_region(std::size_t, jitcm::address_region) { return {}; }
  void undo(jitcm::address_region r) { rest = {r.begin(), rest.end() - r.begin()}; }
  std::error_code free(jitcm::address_region) { return {}; }  // forgets the block, as bump does
  jitcm::address_region rest;
};
static_assert(jitcm::allocator::free_space_policy<first_space_only>);

// jump_table::slot_encoding (slot_encoding.hpp): a "new" CPU whose slot
// bytes are the host's, under its own name, made an emitter by encoded<>.
#if !defined(JITCM_ARCH_X64) && !defined(JITCM_ARCH_ARM64) && !defined(JITCM_ARCH_RISCV64)
#define JITCM_TEST_NO_HOST_ENCODING
#else
struct my_cpu_encoding : jitcm::jump_table::host::encoding {
  static constexpr const char* name = "my_cpu";
};
static_assert(jitcm::jump_table::slot_encoding<my_cpu_encoding>);
using my_cpu = jitcm::jump_table::encoded<my_cpu_encoding>;
#endif

constexpr int lazy_result = -1;
int not_compiled() { return lazy_result; }
const auto lazy_entry = reinterpret_cast<std::uintptr_t>(&not_compiled);

/// Publishes `int f() { return value; }` as function 0 of `module`.
template <class Module>
void publish_constant(Module& module, int value) {
  const example::return_constant bytes{static_cast<std::uint32_t>(value)};
  auto room = module.allocate(bytes.size);
  REQUIRE(room);
  std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
  auto published = module.publish(*room, {.index = 0, .tier = jitcm::tier{1}});
  REQUIRE(published);
  CHECK(published->installed);
}

/// Calls function 0 through its slot, or through its cell when the emitter
/// lays out no machine code.
template <class Module>
int call_first(const Module& module) {
  auto target = module.call_target(0);
  REQUIRE(target);
  if constexpr (jitcm::jump_table::emitter_traits<typename Module::jump_table_type>::has_machine_code) {
    return example::function_at(*target)();
  } else {
    return example::function_at(*reinterpret_cast<const std::uintptr_t*>(*target))();
  }
}

}  // namespace

TEST_CASE("a manager made of the five minimal policies publishes and runs code", "[core][policies]") {
  jitcm::basic_code_manager<minimal::arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                            minimal::keep_everything>
      manager;
  auto module = manager.new_module({.functions = 2, .lazy_entry = lazy_entry});
  REQUIRE(module);
  CHECK(call_first(**module) == lazy_result);
  publish_constant(**module, 42);
  CHECK(call_first(**module) == 42);
  // The lookup finds the code; a second publish retires the first (newest wins).
  const std::uintptr_t code = *reinterpret_cast<const std::uintptr_t*>(*(*module)->call_target(0));
  REQUIRE(manager.lookup(code) != nullptr);
  publish_constant(**module, 43);
  CHECK(call_first(**module) == 43);
  CHECK((*module)->stats().retired == 1);
  CHECK(manager.stats().committed > 0);
}

TEST_CASE("the traits fill in what the minimal policies leave out", "[core][policies]") {
  using emitter = jitcm::jump_table::emitter_traits<minimal::pointer_table>;
  STATIC_REQUIRE(emitter::max_code_space_size == std::numeric_limits<std::size_t>::max());
  STATIC_REQUIRE(emitter::max_functions == std::numeric_limits<std::uint32_t>::max());
  STATIC_REQUIRE_FALSE(emitter::has_machine_code);
  STATIC_REQUIRE_FALSE(emitter::has_context_entry);
  const jitcm::jump_table::table_view no_table{};
  CHECK(emitter::lazy_target(no_table, 3, 0x1234) == 0x1234);

  minimal::arena arena{jitcm::allocator::module_limits{.max_code_space_size = 1 << 20}};
  CHECK(jitcm::allocator::allocator_traits<minimal::arena>::write_revokes_execute(arena));
  CHECK(jitcm::tiering::tiering_traits<minimal::newest_wins>::knows_tier(minimal::newest_wins{}, jitcm::tier{7}));
  STATIC_REQUIRE_FALSE(jitcm::lookup_traits<minimal::list_lookup>::async_signal_safe);
}

TEST_CASE("the minimal arena refuses what it cannot do", "[core][policies]") {
  jitcm::commit_budget budget{4096};
  minimal::arena arena{jitcm::allocator::module_limits{.max_code_space_size = 1 << 20, .budget = &budget}};
  CHECK(arena.allocate(0).error() == jitcm::errc::invalid_argument);
  CHECK(arena.allocate(64).error() == jitcm::errc::limit_exceeded);  // the budget is smaller than a space
  CHECK(budget.committed() == 0);
  CHECK(arena.free(jitcm::code_block{0x1000, 0x1000, 64}).error() == jitcm::errc::not_owned);
}

TEST_CASE("a minimal W^X strategy and free-space policy make an allocator a manager runs", "[core][policies]") {
  using allocator = jitcm::allocator::basic_allocator<everything_rwx, first_space_only>;
  jitcm::with_allocator<jitcm::code_manager, allocator> manager;
  auto module = manager.new_module({.functions = 1, .lazy_entry = lazy_entry});
  REQUIRE(module);
  CHECK((*module)->routing() == jitcm::jump_table::routing::near);  // the strategy keeps execute permission
  publish_constant(**module, 42);
  CHECK(call_first(**module) == 42);
}

#if !defined(JITCM_TEST_NO_HOST_ENCODING)
TEST_CASE("an emitter made from a slot encoding runs code through its slots", "[core][policies]") {
  jitcm::with_jump_table<jitcm::code_manager, my_cpu> manager;
  auto module = manager.new_module({.functions = 1, .lazy_entry = lazy_entry});
  REQUIRE(module);
  publish_constant(**module, 42);
  CHECK(call_first(**module) == 42);
  CHECK(std::strcmp(my_cpu::name, "my_cpu") == 0);
}
#endif

namespace {

/// The minimal arena, remembering the limits its module built it with.
struct recording_arena : minimal::arena {
  static inline jitcm::allocator::module_limits last{};
  explicit recording_arena(const jitcm::allocator::module_limits& limits) : arena{limits} { last = limits; }
};

}  // namespace

TEST_CASE("a module builds its allocator from its own options", "[core][policies]") {
  jitcm::basic_code_manager<recording_arena, minimal::pointer_table, minimal::list_lookup, minimal::newest_wins,
                            minimal::keep_everything>
      manager;
  auto module = manager.new_module({.functions = 3,
                                    .lazy_entry = lazy_entry,
                                    .max_committed = std::size_t{1} << 20,
                                    .initial_reservation = 8192,
                                    .max_code_space_size = std::size_t{1} << 19});
  REQUIRE(module);
  const auto& limits = recording_arena::last;
  CHECK(limits.max_code_space_size == std::size_t{1} << 19);
  CHECK(limits.max_committed == std::size_t{1} << 20);
  CHECK(limits.initial_reservation == 8192);
  CHECK(limits.budget != nullptr);  // the manager's
  CHECK(limits.space_code_header == minimal::pointer_table::code_bytes(3));
  CHECK(limits.space_data_header == minimal::pointer_table::data_bytes(3));
  CHECK((*module)->max_code_space_size() == std::size_t{1} << 19);
  CHECK((*module)->stats().memory.reserved == std::size_t{1} << 19);  // the arena takes the whole limit
}

TEST_CASE("a module's code-space limit is lowered to what the emitter's slots reach, and checked", "[core][policies]") {
  jitcm::code_manager manager;
  const std::size_t reach = jitcm::jump_table::emitter_traits<jitcm::jump_table::host>::max_code_space_size;
  auto wide = manager.new_module({.functions = 1, .lazy_entry = lazy_entry, .max_code_space_size = ~std::size_t{0}});
  REQUIRE(wide);
  CHECK((*wide)->max_code_space_size() == std::min(reach, ~std::size_t{0}));
  auto narrow = manager.new_module({.functions = 1, .lazy_entry = lazy_entry, .max_code_space_size = 1 << 20});
  REQUIRE(narrow);
  auto room = (*narrow)->allocate(64);
  REQUIRE(room);
  CHECK((*narrow)->stats().memory.code_spaces == 1);
  CHECK((*narrow)->stats().memory.reserved <= std::size_t{1} << 20);
  // Tables that leave no room for code in a space are refused up front.
  CHECK(manager.new_module({.functions = 1000, .lazy_entry = lazy_entry, .max_code_space_size = 64}).error() ==
        jitcm::errc::limit_exceeded);
}
