// Every public operation of every allocator under every W^X strategy, run
// with the k-th OS call or bookkeeping allocation refused for k = 1, 2, ...
// until it succeeds unrefused; after each refusal the invariants of
// allocator_fixture must hold and the operation must succeed when retried.
#include <jitcm/allocator/all.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <cstdio>
#include <memory>
#include <type_traits>

#include "../allocator/available_strategies.hpp"
#include "catch.hpp"
#include "fault_injection.hpp"

namespace alloc = jitcm::allocator;
namespace protection = jitcm::protection;
using jitcm::address_region;
using jitcm::testing::allocator_fixture;
using jitcm::testing::refuse_each_call_in_turn;

using jitcm::testing::usable;

namespace {

// The total, printed once at exit so CI logs show how much ran.
struct fault_point_summary {
  ~fault_point_summary() {
    std::printf("faults: %ld (operation, k) fault points exercised\n", jitcm::testing::fault_points_run().load());
  }
} summary;

const std::size_t page = jitcm::platform::page_size();

template <class A>
using fixture_ptr = std::unique_ptr<allocator_fixture<A>>;

// Runs `operation` on fixtures made by `prepare` (a fresh allocator brought
// to the state the operation starts from) with each call refused in turn.
template <class A, class Prepare, class Operation>
void exercise(const char* what, Prepare prepare, Operation operation) {
  if (!usable<A>()) {
    WARN("strategy not available here: " << A::protection_type::name);
    return;
  }
  const long points = refuse_each_call_in_turn(
      [&] {
        auto f = std::make_unique<allocator_fixture<A>>();
        prepare(*f);
        f->check();
        return f;
      },
      [&](fixture_ptr<A>& f) {
        // A failed operation changes nothing (destruction never fails).
        const jitcm::allocator_stats before = f->allocator().stats();
        const bool succeeded = operation(*f);
        if (!succeeded) REQUIRE(f->allocator().stats() == before);
        return succeeded;
      },
      [](fixture_ptr<A>& f) { f->check(); }, [](fixture_ptr<A>& f) { f->finish(); });
  INFO(what << " under " << A::protection_type::name << ": " << points << " fault points");
  CHECK(points >= 0);
  std::printf("faults: %-40s %-16s %3ld fault points\n", what, A::protection_type::name, points);
}

template <class A>
void nothing(allocator_fixture<A>&) {}

template <class A>
void one_small_block(allocator_fixture<A>& f) {
  REQUIRE(f.allocate(64));
}

}  // namespace

#if defined(JITCM_HAS_DUAL_MAPPING)
#define JITCM_FAULT_DUAL_MAPPING \
  , alloc::pool<protection::dual_mapping>, alloc::tlsf<protection::dual_mapping>, alloc::bump<protection::dual_mapping>
#else
#define JITCM_FAULT_DUAL_MAPPING
#endif

#define JITCM_FAULT_ALLOCATORS                                                                              \
  alloc::pool<protection::mprotect_toggle>, alloc::tlsf<protection::mprotect_toggle>,                       \
      alloc::bump<protection::mprotect_toggle>, alloc::pool<protection::rwx>, alloc::tlsf<protection::rwx>, \
      alloc::bump<protection::rwx> JITCM_FAULT_DUAL_MAPPING

TEMPLATE_TEST_CASE("allocate reserving the first space", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>("allocate: first space", nothing<TestType>,
                     [](allocator_fixture<TestType>& f) { return f.allocate(3 * page); });
}

TEMPLATE_TEST_CASE("allocate committing new units of a space", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>("allocate: commit units", one_small_block<TestType>,
                     [](allocator_fixture<TestType>& f) { return f.allocate(5 * page); });
}

TEMPLATE_TEST_CASE("allocate growing into a new space", "[faults]", JITCM_FAULT_ALLOCATORS) {
  // The first space is 64 KiB (min_code_space_size): a second 40 KiB block
  // does not fit next to the first.
  exercise<TestType>(
      "allocate: growth into a new space", [](allocator_fixture<TestType>& f) { REQUIRE(f.allocate(40 << 10)); },
      [](allocator_fixture<TestType>& f) {
        const std::size_t spaces = f.allocator().code_spaces().size();
        const bool ok = f.allocate(40 << 10);
        if (ok) REQUIRE(f.allocator().code_spaces().size() == spaces + 1);
        return ok;
      });
}

TEMPLATE_TEST_CASE("allocate_in_region on uncommitted units", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>("allocate_in_region", one_small_block<TestType>, [](allocator_fixture<TestType>& f) {
    const jitcm::code_space& s = f.allocator().code_spaces()[0];
    return f.allocate_in_region(2 * page, {s.code.begin() + 8 * page, 4 * page});
  });
}

TEMPLATE_TEST_CASE("free decommitting the units it leaves free", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>(
      "free: decommit of free units",
      [](allocator_fixture<TestType>& f) {
        REQUIRE(f.allocate(64));
        REQUIRE(f.allocate(6 * page));
      },
      [](allocator_fixture<TestType>& f) { return f.free(1); });
}

TEMPLATE_TEST_CASE("a write scope over a block", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>("begin_write/end", one_small_block<TestType>,
                     [](allocator_fixture<TestType>& f) { return f.rewrite(0); });
}

TEMPLATE_TEST_CASE("allocator destruction", "[faults]", JITCM_FAULT_ALLOCATORS) {
  exercise<TestType>(
      "destruction",
      [](allocator_fixture<TestType>& f) {
        REQUIRE(f.allocate(40 << 10));
        REQUIRE(f.allocate(40 << 10));
        REQUIRE(f.allocator().code_spaces().size() == 2);
      },
      [](allocator_fixture<TestType>& f) { return f.destroy(); });
}
