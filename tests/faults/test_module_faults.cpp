// native_module and basic_code_manager operations under systematic fault
// injection: each one runs with the k-th OS call or bookkeeping allocation
// refused, for k = 1, 2, ... until it succeeds unrefused, under both
// routings (far slots with the mprotect strategy, near slots with dual
// mapping). After every refusal: each slot leads to the code the test last
// installed for it or to the lazy slot, installed code runs and is found
// once, the module's counts match, the budget matches the allocator, the
// operation succeeds when retried, and nothing is left once the module goes.
#include <jitcm/jitcm.hpp>

#include <cstdio>
#include <memory>
#include <vector>

#include "../allocator/available_strategies.hpp"
#include "../core/core_fixture.hpp"
#include "fault_injection.hpp"

using jitcm::testing::refuse_each_call_in_turn;
using jitcm::tiering::two_tier;
using namespace jitcm::testing;

namespace {

constexpr std::uint32_t functions = 4;

using far_manager =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::mprotect_toggle>>;
#if defined(JITCM_HAS_DUAL_MAPPING) && !defined(JITCM_TEST_ALIAS_REWRITES_UNSEEN)
using near_manager =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::dual_mapping>>;
#endif

/// A manager, maybe a module, and what each function's slot must return.
template <class Manager>
struct module_fixture {
  Manager manager;
  typename Manager::module_ptr module;
  std::vector<int> expected = std::vector<int>(functions, lazy_result);
  int next_value = 100;

  bool create() {
    auto created = manager.new_module({.functions = functions, .lazy_entry = lazy_entry()});
    if (!created) return false;
    module = std::move(*created);
    return true;
  }

  /// allocate → write → publish `value` for `index`; on success the slot
  /// leads to it (the tier is at least the installed one).
  bool publish(std::uint32_t index, jitcm::tier tier) {
    const int value = next_value++;
    const example::return_constant bytes{static_cast<std::uint32_t>(value)};
    auto room = module->allocate(bytes.size);
    if (!room) return false;
    std::memcpy(room->writable(), bytes.bytes.data(), bytes.size);
    auto published = module->publish(*room, {.index = index, .tier = tier});
    if (!published) return false;
    if (published->installed) expected[index] = value;
    return true;
  }

  bool add_batch() {
    std::vector<constant_bytes> bytes;
    std::vector<jitcm::finished_code> batch;
    for (std::uint32_t i = 0; i < functions; ++i) bytes.emplace_back(next_value + static_cast<int>(i));
    for (std::uint32_t i = 0; i < functions; ++i) {
      batch.push_back({bytes[i].span(), {.index = i, .tier = two_tier::optimized}});
    }
    auto added = module->add_code(batch);
    // A failed batch may leave its first items published (documented):
    // learn what the slots lead to from the module itself then.
    for (std::uint32_t i = 0; i < functions; ++i) {
      typename Manager::code_ref_scope scope;
      auto installed = module->installed(i);
      REQUIRE(installed);
      if (*installed != nullptr) expected[i] = example::function_at((*installed)->instruction_start())();
    }
    next_value += static_cast<int>(functions);
    return static_cast<bool>(added);
  }

  bool remove(std::uint32_t index) {
    typename Manager::code_ref_scope scope;
    auto installed = module->installed(index);
    REQUIRE(installed);
    REQUIRE(*installed != nullptr);
    if (!module->remove(*installed)) return false;
    expected[index] = lazy_result;
    return true;
  }

  void check() {
    if (!module) {
      CHECK(manager.stats().modules == 0);
      CHECK(manager.committed() == 0);
      return;
    }
    std::size_t installed_count = 0;
    for (std::uint32_t i = 0; i < functions; ++i) {
      CHECK(call(*module, i) == expected[i]);
      typename Manager::code_ref_scope scope;
      auto installed = module->installed(i);
      REQUIRE(installed);
      if (*installed == nullptr) continue;
      ++installed_count;
      CHECK(manager.lookup((*installed)->instruction_start()) == *installed);
      CHECK((*installed)->index() == i);
    }
    const jitcm::module_stats stats = module->stats();
    CHECK(stats.installed == installed_count);
    CHECK(stats.code_objects == stats.published - stats.freed);
    CHECK(manager.committed() == stats.memory.committed);
  }

  void finish() {
    module.reset();
    CHECK(manager.committed() == 0);
    CHECK(manager.stats().modules == 0);
  }
};

template <class Manager>
using fixture_ptr = std::unique_ptr<module_fixture<Manager>>;

template <class Manager, class Prepare, class Operation>
void exercise(const char* what, Prepare prepare, Operation operation) {
  const long points = refuse_each_call_in_turn(
      [&] {
        auto f = std::make_unique<module_fixture<Manager>>();
        prepare(*f);
        f->check();
        return f;
      },
      [&](fixture_ptr<Manager>& f) { return operation(*f); }, [&](fixture_ptr<Manager>& f) { f->check(); },
      [&](fixture_ptr<Manager>& f) { f->finish(); });
  std::printf("  %-34s %3ld fault points\n", what, points);
}

template <class Manager>
void every_operation() {
  using fixture = module_fixture<Manager>;
  auto nothing = [](fixture&) {};
  auto created = [](fixture& f) { REQUIRE(f.create()); };
  auto populated = [](fixture& f) {
    REQUIRE(f.create());
    REQUIRE(f.publish(0, two_tier::baseline));
    REQUIRE(f.publish(1, two_tier::baseline));
  };
  exercise<Manager>("new_module", nothing, [](fixture& f) { return f.create(); });
  exercise<Manager>("publish (first install)", created, [](fixture& f) { return f.publish(2, two_tier::baseline); });
  exercise<Manager>("publish (tier-up retarget)", populated,
                    [](fixture& f) { return f.publish(0, two_tier::optimized); });
  exercise<Manager>("add_code (a batch)", populated, [](fixture& f) { return f.add_batch(); });
  exercise<Manager>("remove", populated, [](fixture& f) { return f.remove(1); });
  exercise<Manager>("flush, collect", populated, [](fixture& f) {
    (void)f.manager.flush_for_memory_pressure();
    (void)f.manager.collect({});
    for (std::uint32_t i = 0; i < functions; ++i) f.expected[i] = lazy_result;  // two_tier flushes baseline code
    return true;
  });
}

struct fault_point_summary {
  ~fault_point_summary() {
    std::printf("module faults: %ld (operation, k) fault points exercised\n",
                jitcm::testing::fault_points_run().load());
  }
} summary;

}  // namespace

TEST_CASE("module operations under faults, far routing (mprotect_toggle)", "[faults]") {
  every_operation<far_manager>();
}

#if defined(JITCM_HAS_DUAL_MAPPING) && !defined(JITCM_TEST_ALIAS_REWRITES_UNSEEN)
TEST_CASE("module operations under faults, near routing (dual_mapping)", "[faults]") {
  if (!jitcm::testing::usable<near_manager::allocator_type>()) {
    WARN("dual mapping is not available here");
    return;
  }
  every_operation<near_manager>();
}
#endif
