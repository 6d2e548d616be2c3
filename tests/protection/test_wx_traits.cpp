// What each W^X strategy declares about its write scopes, and the host
// default's run-time choice between dual mapping and mprotect toggling. The
// suite runs this program with JITCM_WX unset, =mprotect and =dual_mapping.
#include <jitcm/allocator/allocator_traits.hpp>
#include <jitcm/allocator/default_allocator.hpp>
#include <jitcm/protection/dual_mapping.hpp>
#include <jitcm/protection/dual_mapping_or_mprotect.hpp>
#include <jitcm/protection/host_default.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>
#include <jitcm/protection/mprotect_toggle_single_threaded.hpp>
#include <jitcm/protection/probe.hpp>
#include <jitcm/protection/rwx.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;

namespace {

/// A strategy that says nothing about its write scopes (everything but the
/// traits borrowed from rwx).
struct silent_strategy {
  static constexpr const char* name = "silent";
  using write_scope = protection::rwx::write_scope;
  using space = protection::rwx::space;
  static result<space> reserve(std::size_t bytes, std::uintptr_t hint = 0, std::size_t alignment = 0) noexcept {
    return protection::rwx::reserve(bytes, hint, alignment);
  }
};

/// Declares the first trait only, as a constant.
struct keeps_execute : silent_strategy {
  static constexpr bool write_revokes_execute = false;
};

/// Declares both traits as run-time functions.
struct decided_at_run_time : silent_strategy {
  static inline bool revokes = true;
  static bool write_revokes_execute() noexcept { return revokes; }
  static bool exclusive_pages() noexcept { return false; }
};

template <class S>
using traits = protection::strategy_traits<S>;

/// A code allocator without the optional write_revokes_execute member (its
/// strategy, rwx, would answer false).
struct allocator_without_trait : allocator::tlsf<protection::rwx> {
  using allocator::basic_allocator<protection::rwx, allocator::tlsf_free_space>::basic_allocator;
  bool write_revokes_execute() const = delete;
};

/// What the core reads of an allocator: its trait, with the default filled in.
template <class A>
bool revokes_execute(const A& allocator) {
  return allocator::allocator_traits<A>::write_revokes_execute(allocator);
}

}  // namespace

TEST_CASE("every shipped strategy declares whether its write scopes revoke execute", "[protection][traits]") {
  CHECK(traits<protection::mprotect_toggle>::write_revokes_execute());
  CHECK(traits<protection::mprotect_toggle>::exclusive_pages());
  CHECK_FALSE(traits<protection::dual_mapping>::write_revokes_execute());
  CHECK_FALSE(traits<protection::dual_mapping>::exclusive_pages());
  CHECK_FALSE(traits<protection::rwx>::write_revokes_execute());
  CHECK_FALSE(traits<protection::rwx>::exclusive_pages());
  CHECK(traits<protection::mprotect_toggle_single_threaded>::write_revokes_execute());
  CHECK_FALSE(traits<protection::mprotect_toggle_single_threaded>::exclusive_pages());
#if defined(JITCM_OS_MACOS) && defined(JITCM_ARCH_ARM64)
  CHECK_FALSE(traits<protection::thread_toggle>::write_revokes_execute());
#endif
}

TEST_CASE("a strategy that does not declare the traits is assumed to revoke execute", "[protection][traits]") {
  static_assert(protection::strategy<silent_strategy>);
  CHECK(traits<silent_strategy>::write_revokes_execute());
  CHECK(traits<silent_strategy>::exclusive_pages());
  // exclusive_pages follows write_revokes_execute unless declared.
  CHECK_FALSE(traits<keeps_execute>::write_revokes_execute());
  CHECK_FALSE(traits<keeps_execute>::exclusive_pages());
}

TEST_CASE("traits declared as functions are asked at run time", "[protection][traits]") {
  decided_at_run_time::revokes = true;
  CHECK(traits<decided_at_run_time>::write_revokes_execute());
  decided_at_run_time::revokes = false;
  CHECK_FALSE(traits<decided_at_run_time>::write_revokes_execute());
  CHECK_FALSE(traits<decided_at_run_time>::exclusive_pages());
  decided_at_run_time::revokes = true;
}

TEST_CASE("an allocator answers with its strategy's traits, and with true when it lacks the member",
          "[protection][traits]") {
  CHECK(allocator::tlsf<protection::mprotect_toggle>{}.write_revokes_execute());
  CHECK_FALSE(allocator::tlsf<protection::dual_mapping>{}.write_revokes_execute());
  CHECK(revokes_execute(allocator::tlsf<silent_strategy>{}));
  CHECK_FALSE(revokes_execute(allocator::tlsf<keeps_execute>{}));
  CHECK(revokes_execute(allocator::tlsf<protection::mprotect_toggle>{}));
  static_assert(code_allocator<allocator_without_trait>);
  CHECK(revokes_execute(allocator_without_trait{}));
}

#if defined(JITCM_HAS_DUAL_MAPPING)

namespace {

const char* jitcm_wx() { return std::getenv("JITCM_WX"); }

/// What the choice must be in this process: what JITCM_WX forces, else
/// dual mapping exactly when the probe allows it.
protection::wx_choice expected_choice() {
  const char* wx = jitcm_wx();
  if (wx != nullptr && std::strcmp(wx, "mprotect") == 0) return protection::wx_choice::mprotect_toggle;
  if (wx != nullptr && std::strcmp(wx, "dual_mapping") == 0) return protection::wx_choice::dual_mapping;
  return protection::probe().dual_mapping ? protection::wx_choice::mprotect_toggle
                                          : protection::wx_choice::dual_mapping;
}

}  // namespace

TEST_CASE("JITCM_WX forces the choice; anything else leaves it to the probe", "[protection][wx-choice]") {
  using chooser = protection::dual_mapping_or_mprotect;
  CHECK(chooser::choose("mprotect") == protection::wx_choice::mprotect_toggle);
  CHECK(chooser::choose("dual_mapping") == protection::wx_choice::dual_mapping);
  const auto probed =
      protection::probe().dual_mapping ? protection::wx_choice::mprotect_toggle : protection::wx_choice::dual_mapping;
  CHECK(chooser::choose(nullptr) == probed);
  CHECK(chooser::choose("") == probed);
  CHECK(chooser::choose("rwx") == probed);
}

TEST_CASE("the host default picks dual mapping where allowed, mprotect under JITCM_WX=mprotect, and says which",
          "[protection][wx-choice]") {
  static_assert(std::is_same_v<protection::host_default, protection::dual_mapping_or_mprotect>);
  INFO("JITCM_WX=" << (jitcm_wx() != nullptr ? jitcm_wx() : "(unset)"));
  const protection::wx_choice expected = expected_choice();
  const bool mprotect = expected == protection::wx_choice::mprotect_toggle;
  CHECK(protection::dual_mapping_or_mprotect::chosen() == expected);
  CHECK(std::string{protection::host_default_strategy_name()} == (mprotect ? "mprotect_toggle" : "dual_mapping"));
  CHECK(traits<protection::host_default>::write_revokes_execute() == mprotect);
  CHECK(traits<protection::host_default>::exclusive_pages() == mprotect);
  if (jitcm_wx() == nullptr) {
    // This machine allows dual mapping (probe() says so; hardened hosts may
    // not): the default uses it.
    CHECK(protection::probe().dual_mapping == std::error_code{});
    CHECK(protection::dual_mapping_or_mprotect::chosen() == protection::wx_choice::dual_mapping);
  }
}

TEST_CASE("an allocator over the host default writes and runs code under the choice it made",
          "[protection][wx-choice]") {
  allocator::default_allocator<> a;
  const bool mprotect = protection::dual_mapping_or_mprotect::chosen() == protection::wx_choice::mprotect_toggle;
  CHECK(a.write_revokes_execute() == mprotect);
  CHECK(a.exclusive_pages() == mprotect);
  std::vector<code_block> blocks;
  for (std::uint32_t value = 0; value < 40; ++value) {
    auto b = a.allocate(64);
    REQUIRE(b);
    const example::return_constant code{value};
    auto scope = a.begin_write(b->region());
    REQUIRE(scope);
    std::memcpy(reinterpret_cast<void*>(b->writable()), code.bytes.data(), code.size);
    REQUIRE(scope->end());
    blocks.push_back(*b);
  }
  for (std::uint32_t value = 0; value < 40; ++value) {
    const code_block& b = blocks[value];
    CHECK(example::function_at(b.executable())() == static_cast<int>(value));
    // Dual mapping writes through another address; mprotect at the code's
    // own, on pages of the block's own.
    CHECK((b.writable() == b.executable()) == mprotect);
    CHECK((b.executable() % platform::page_size() == 0 && b.size() == platform::page_size()) == mprotect);
  }
}

#endif  // JITCM_HAS_DUAL_MAPPING
