#include "catch.hpp"
#include "support.hpp"

#include <jitcm/tiering/concept.hpp>
#include <jitcm/tiering/two_tier.hpp>
#include <jitcm/tiering/v8.hpp>

using jitcm::debug_kind;
using jitcm::testing::make_code;

namespace {

using v8 = jitcm::tiering::v8;
using two_tier = jitcm::tiering::two_tier;

constexpr jitcm::tiering::debug_state running{false};
constexpr jitcm::tiering::debug_state debugging{true};

std::unique_ptr<jitcm::code> function_code(jitcm::tier tier, debug_kind debug = debug_kind::none) {
  auto c = make_code(0x1000, 64, 3, tier, debug);
  REQUIRE(c);
  return c;
}

}  // namespace

static_assert(jitcm::tiering_filter<v8>);
static_assert(jitcm::tiering_filter<two_tier>);
static_assert(std::is_empty_v<v8> && std::is_empty_v<two_tier>, "stateless policies cost no bytes");

TEST_CASE("v8: new code is installed where nothing is", "[tiering][v8]") {
  const v8 policy;
  CHECK(policy.should_install(*function_code(v8::liftoff), nullptr, running));
  CHECK(policy.should_install(*function_code(v8::turbofan), nullptr, running));
  CHECK(policy.should_install(*function_code(v8::liftoff, debug_kind::for_debugging), nullptr, running));
}

TEST_CASE("v8: stepping code is never installed", "[tiering][v8]") {
  const v8 policy;
  const auto stepping = function_code(v8::liftoff, debug_kind::for_stepping);
  const auto debug = function_code(v8::liftoff, debug_kind::for_debugging);
  CHECK_FALSE(policy.should_install(*stepping, nullptr, running));
  CHECK_FALSE(policy.should_install(*stepping, nullptr, debugging));
  CHECK_FALSE(policy.should_install(*stepping, debug.get(), debugging));
}

TEST_CASE("v8: a lower tier never replaces non-debug code of a higher tier", "[tiering][v8]") {
  const v8 policy;
  const auto liftoff = function_code(v8::liftoff);
  const auto turbofan = function_code(v8::turbofan);
  CHECK(policy.should_install(*turbofan, liftoff.get(), running));  // tier-up
  CHECK_FALSE(policy.should_install(*liftoff, turbofan.get(), running));
  CHECK(policy.should_install(*function_code(v8::turbofan), turbofan.get(), running));  // same tier replaces
  CHECK(policy.should_install(*function_code(v8::liftoff), liftoff.get(), running));
}

TEST_CASE("v8: after debugging, non-debug code replaces debug code of any tier", "[tiering][v8]") {
  const v8 policy;
  const auto debug_liftoff = function_code(v8::liftoff, debug_kind::for_debugging);
  const auto breakpoints = function_code(v8::liftoff, debug_kind::with_breakpoints);
  CHECK(policy.should_install(*function_code(v8::liftoff), debug_liftoff.get(), running));
  CHECK(policy.should_install(*function_code(v8::turbofan), breakpoints.get(), running));
  // Debug code is "lower" than nothing: a debug TurboFan installed code is
  // replaced even by Liftoff.
  const auto debug_turbofan = function_code(v8::turbofan, debug_kind::for_debugging);
  CHECK(policy.should_install(*function_code(v8::liftoff), debug_turbofan.get(), running));
}

TEST_CASE("v8: while debugging only debug code is installed", "[tiering][v8]") {
  const v8 policy;
  const auto debug = function_code(v8::liftoff, debug_kind::for_debugging);
  const auto turbofan = function_code(v8::turbofan);
  CHECK_FALSE(policy.should_install(*function_code(v8::turbofan), nullptr, debugging));
  CHECK_FALSE(policy.should_install(*function_code(v8::turbofan), debug.get(), debugging));
  CHECK_FALSE(policy.should_install(*function_code(v8::liftoff), nullptr, debugging));
  // The tier rule still holds: V8 first removes non-debug code when a
  // debugger attaches, so debug Liftoff code never meets TurboFan code here.
  CHECK_FALSE(policy.should_install(*debug, turbofan.get(), debugging));
  CHECK(policy.should_install(*debug, nullptr, debugging));
  CHECK(policy.should_install(*function_code(v8::liftoff, debug_kind::for_debugging), debug.get(), debugging));
}

TEST_CASE("v8: while debugging breakpoint code is not replaced by plain debug code", "[tiering][v8]") {
  const v8 policy;
  const auto debug = function_code(v8::liftoff, debug_kind::for_debugging);
  const auto breakpoints = function_code(v8::liftoff, debug_kind::with_breakpoints);
  CHECK(policy.should_install(*breakpoints, debug.get(), debugging));
  CHECK_FALSE(
      policy.should_install(*function_code(v8::liftoff, debug_kind::for_debugging), breakpoints.get(), debugging));
  CHECK(policy.should_install(*function_code(v8::liftoff, debug_kind::with_breakpoints), breakpoints.get(), debugging));
}

TEST_CASE("v8: removal filters select as NativeModule::RemoveCompiledCode", "[tiering][v8]") {
  const v8 policy;
  using filter = v8::removal_filter;
  const auto liftoff = function_code(v8::liftoff);
  const auto turbofan = function_code(v8::turbofan);
  const auto debug = function_code(v8::liftoff, debug_kind::for_debugging);
  struct expectation {
    filter f;
    bool liftoff, turbofan, debug;
  };
  for (auto e :
       {expectation{filter::all, true, true, true}, expectation{filter::debug_code, false, false, true},
        expectation{filter::non_debug_code, true, true, false}, expectation{filter::liftoff_code, true, false, true},
        expectation{filter::turbofan_code, false, true, false}}) {
    INFO("filter " << static_cast<int>(e.f));
    CHECK(policy.should_remove(*liftoff, e.f) == e.liftoff);
    CHECK(policy.should_remove(*turbofan, e.f) == e.turbofan);
    CHECK(policy.should_remove(*debug, e.f) == e.debug);
  }
  CHECK(policy.memory_pressure_filter() == filter::liftoff_code);
}

TEST_CASE("two_tier: better or equal tiers replace, lower tiers do not", "[tiering][two_tier]") {
  const two_tier policy;
  const auto baseline = function_code(two_tier::baseline);
  const auto optimized = function_code(two_tier::optimized);
  CHECK(policy.should_install(*baseline, nullptr, running));
  CHECK(policy.should_install(*optimized, baseline.get(), running));
  CHECK_FALSE(policy.should_install(*baseline, optimized.get(), running));
  CHECK(policy.should_install(*function_code(two_tier::optimized), optimized.get(), running));
  CHECK(policy.should_install(*function_code(two_tier::baseline), baseline.get(), running));
}

TEST_CASE("two_tier: the debug flag", "[tiering][two_tier]") {
  const two_tier policy;
  const auto optimized = function_code(two_tier::optimized);
  const auto debug = function_code(two_tier::baseline, debug_kind::for_debugging);
  const auto breakpoints = function_code(two_tier::baseline, debug_kind::with_breakpoints);
  const auto stepping = function_code(two_tier::baseline, debug_kind::for_stepping);
  // Stepping code is never installed.
  CHECK_FALSE(policy.should_install(*stepping, nullptr, running));
  CHECK_FALSE(policy.should_install(*stepping, debug.get(), debugging));
  // While debugging: only debug code, and the newest debug code wins.
  CHECK(policy.should_install(*debug, optimized.get(), debugging));
  CHECK(policy.should_install(*debug, breakpoints.get(), debugging));
  CHECK_FALSE(policy.should_install(*function_code(two_tier::optimized), debug.get(), debugging));
  CHECK_FALSE(policy.should_install(*function_code(two_tier::baseline), nullptr, debugging));
  // After debugging: any non-debug code replaces debug code.
  CHECK(policy.should_install(*function_code(two_tier::baseline), debug.get(), running));
}

TEST_CASE("two_tier: removal filters and the memory-pressure flush", "[tiering][two_tier]") {
  const two_tier policy;
  using filter = two_tier::removal_filter;
  const auto baseline = function_code(two_tier::baseline);
  const auto optimized = function_code(two_tier::optimized);
  const auto debug = function_code(two_tier::baseline, debug_kind::for_debugging);
  struct expectation {
    filter f;
    bool baseline, optimized, debug;
  };
  for (auto e : {expectation{filter::all(), true, true, true}, expectation{filter::debug_code(), false, false, true},
                 expectation{filter::non_debug_code(), true, true, false},
                 expectation{filter::baseline_code(), true, false, true},
                 expectation{filter::optimized_code(), false, true, false},
                 expectation{filter{two_tier::baseline, false}, true, false, false}}) {
    CHECK(policy.should_remove(*baseline, e.f) == e.baseline);
    CHECK(policy.should_remove(*optimized, e.f) == e.optimized);
    CHECK(policy.should_remove(*debug, e.f) == e.debug);
  }
  // Memory pressure drops baseline code but keeps what a debugger relies on.
  const filter pressure = policy.memory_pressure_filter();
  CHECK(policy.should_remove(*baseline, pressure));
  CHECK_FALSE(policy.should_remove(*optimized, pressure));
  CHECK_FALSE(policy.should_remove(*debug, pressure));
}
