// JITCM_ASSERT and JITCM_ASSERT_CLEANUP: what stops a debug build and what
// does not.
#include <csignal>
#include <system_error>

#include <jitcm/allocator/commit_budget.hpp>
#include <jitcm/detail/assert.hpp>
#include <jitcm/base/result.hpp>

#include "catch.hpp"
#include "child_process.hpp"

namespace {

jitcm::result<void> failing_with(std::error_code error) { return jitcm::failure{error}; }

bool stopped(const jitcm::testing::child_outcome& outcome) { return outcome.signalled && outcome.signal == SIGABRT; }

}  // namespace

#if !defined(NDEBUG) || defined(JITCM_ENABLE_ASSERTS)

TEST_CASE("a false assertion stops the program; a true one does not", "[core][assert][death]") {
  CHECK(stopped(jitcm::testing::run_in_child([] { JITCM_ASSERT(1 + 1 == 3); })));
  const auto passed = jitcm::testing::run_in_child([] { JITCM_ASSERT(1 + 1 == 2); });
  CHECK((passed.exited && passed.exit_code == 0));
}

TEST_CASE("a cleanup step that reports a misuse stops the program", "[core][assert][death]") {
  CHECK(stopped(jitcm::testing::run_in_child(
      [] { JITCM_ASSERT_CLEANUP(failing_with(make_error_code(jitcm::errc::double_free))); })));
  CHECK(stopped(jitcm::testing::run_in_child(
      [] { JITCM_ASSERT_CLEANUP(failing_with(make_error_code(jitcm::errc::not_owned))); })));
}

TEST_CASE("a cleanup step the OS refused, or that ran out, goes on", "[core][assert]") {
  const auto refused = jitcm::testing::run_in_child([] {
    JITCM_ASSERT_CLEANUP(failing_with(std::make_error_code(std::errc::permission_denied)));
    JITCM_ASSERT_CLEANUP(failing_with(make_error_code(jitcm::errc::out_of_memory)));
    JITCM_ASSERT_CLEANUP(jitcm::result<void>{});
  });
  CHECK((refused.exited && refused.exit_code == 0));
}

TEST_CASE("a commit budget refuses to give back more than was charged", "[core][assert][death]") {
  CHECK(stopped(jitcm::testing::run_in_child([] {
    jitcm::commit_budget budget{0};
    budget.refund(1);
  })));
}

#endif

TEST_CASE("a cleanup step is evaluated in every build", "[core][assert]") {
  int calls = 0;
  JITCM_ASSERT_CLEANUP((++calls, jitcm::result<void>{}));
  CHECK(calls == 1);
}
