// The trap handler on one thread: claiming faults at protected instructions,
// forwarding everything else to the previous handler, registrations and
// their landing pads, install and uninstall.
#include <signal.h>

#include <cstdint>
#include <thread>

#include "trap_fixture.hpp"

namespace {

using namespace jitcm::testing;
namespace trap = jitcm::trap;

// A lookup that is not async-signal-safe, and two that say whether they are.
struct plain_lookup {
  jitcm::result<void> insert(const jitcm::code*) { return {}; }
  jitcm::result<void> erase(const jitcm::code*) { return {}; }
  const jitcm::code* find(std::uintptr_t) const { return nullptr; }
};
struct declared_safe : plain_lookup {
  static constexpr bool async_signal_safe = true;
};
struct declared_unsafe : plain_lookup {
  static constexpr bool async_signal_safe = false;
};

static_assert(!jitcm::lookup_traits<plain_lookup>::async_signal_safe, "absent means not signal-safe");
static_assert(jitcm::lookup_traits<declared_safe>::async_signal_safe);
static_assert(!jitcm::lookup_traits<declared_unsafe>::async_signal_safe);
static_assert(jitcm::lookup_traits<jitcm::lookup::lock_free_array>::async_signal_safe);
static_assert(!jitcm::lookup_traits<jitcm::lookup::sorted_map>::async_signal_safe);
static_assert(trap::signal_safe_manager<manager_type>);
static_assert(jitcm::lookup_traits<jitcm::lookup::segment_map>::async_signal_safe);
static_assert(trap::signal_safe_manager<jitcm::with_lookup<jitcm::code_manager, jitcm::lookup::lock_free_array>>);
static_assert(!trap::signal_safe_manager<jitcm::with_lookup<jitcm::code_manager, jitcm::lookup::sorted_map>>,
              "sorted_map locks: not attachable");
static_assert(trap::signal_safe_lookup<declared_safe> && !trap::signal_safe_lookup<plain_lookup>);

// Reads through `load` from the guard page and returns what the call returned.
int load_from(const jitcm::code* load, const guard_page& guard) { return call_load(load, guard.pointer()); }

TEST_CASE_METHOD(attached_jit, "a fault at a protected instruction resumes at the landing pad", "[trap]") {
  const int value = 77;
  CHECK(call_load(jit.protected_load, &value) == 77);  // no fault, no pad
  CHECK(load_from(jit.protected_load, guard) == trapped);
  CHECK(trap::last_fault() == trap::fault{jit.load_pc, guard.address()});
  CHECK(load_from(jit.protected_load, guard) == trapped);
  CHECK(forwarded_count.load() == 0);
}

TEST_CASE("the landing pad finds the faulting pc and the fault address in argument registers 0 and 1", "[trap]") {
  handlers_installed handlers;
  manager_type manager;
  jit_functions jit{manager};
  guard_page guard;
  const jitcm::code* echo_pc = publish(*jit.module, return_argument(0).span());
  const jitcm::code* echo_address = publish(*jit.module, return_argument(1).span());
  REQUIRE(echo_pc);
  REQUIRE(echo_address);
  auto registration = attached(manager, echo_pc);

  CHECK(load_from(jit.protected_load, guard) == static_cast<int>(static_cast<std::uint32_t>(jit.load_pc)));
  REQUIRE(registration.set_landing_pad(echo_address->instruction_start()));
  CHECK(load_from(jit.protected_load, guard) == static_cast<int>(static_cast<std::uint32_t>(guard.address())));
}

TEST_CASE_METHOD(attached_jit, "a fault at an instruction that is not protected reaches the previous handler",
                 "[trap]") {
  CHECK(reaches_previous_handler([&] { (void)load_from(jit.unprotected_load, guard); }));
  CHECK(forwarded_count.load() == 1);
  CHECK(last_forwarded.signal == SIGSEGV);
  CHECK(last_forwarded.pc == jit.unprotected_load_pc);
  CHECK(last_forwarded.address == guard.address());
  // The handler is still in place and still claims what it should.
  CHECK(load_from(jit.protected_load, guard) == trapped);
}

TEST_CASE("a fault outside JIT code reaches the previous handler", "[trap]") {
  handlers_installed handlers;
  manager_type manager;
  jit_functions jit{manager};
  auto registration = attached(manager, jit.pad);

  CHECK(reaches_previous_handler([] { fault_outside_jit_code(); }));
  CHECK(last_forwarded.signal == SIGSEGV);
  CHECK(last_forwarded.address == 0);
  CHECK(manager.lookup(last_forwarded.pc) == nullptr);
}

TEST_CASE("a sent SIGSEGV is never claimed, even at a protected pc", "[trap]") {
  handlers_installed handlers;
  manager_type manager;
  jit_functions jit{manager};
  auto registration = attached(manager, jit.pad);
  CHECK(reaches_previous_handler([] { (void)::raise(SIGSEGV); }));
  CHECK(last_forwarded.signal == SIGSEGV);
}

TEST_CASE_METHOD(attached_jit, "freed code is not claimed: a fault at its old address reaches the previous handler",
                 "[trap]") {
  const load_function load;
  const std::uint32_t load_offset[] = {load.load_offset};
  const jitcm::code* doomed = publish(*jit.module, load.code.span(), load_offset);
  REQUIRE(doomed);
  const jitcm::address_region old = doomed->instructions();
  CHECK(load_from(doomed, guard) == trapped);
  REQUIRE(jit.module->remove(doomed));
  REQUIRE(manager.collect({}) == 1);
  REQUIRE(manager.lookup(old.begin()) == nullptr);

  // Whatever is left there (the old bytes, or a decommitted page), running
  // it faults inside the old range, and nothing claims that fault.
  CHECK(reaches_previous_handler([&] { (void)call_load(old.begin(), guard.pointer()); }));
  CHECK(old.contains(last_forwarded.pc));
}

TEST_CASE("install twice, uninstall once: the dispositions from before are back exactly", "[trap]") {
  auto before = jitcm::platform::current_fault_dispositions();
  REQUIRE(before);
  struct sigaction custom {};
  custom.sa_sigaction = &previous_handler;
  custom.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&custom.sa_mask);
  sigaddset(&custom.sa_mask, SIGUSR1);
  REQUIRE(::sigaction(SIGSEGV, &custom, nullptr) == 0);

  REQUIRE(trap::install());
  REQUIRE(trap::install());
  CHECK(trap::installed());
  CHECK(jitcm::platform::fault_handler_installed(&trap::detail::on_fault));
  REQUIRE(trap::uninstall());
  CHECK_FALSE(trap::installed());
  REQUIRE(trap::uninstall());  // harmless

  auto after = jitcm::platform::current_fault_dispositions();
  REQUIRE(after);
  CHECK(after->segv.sa_sigaction == &previous_handler);
  CHECK((after->segv.sa_flags & (SA_SIGINFO | SA_RESTART | SA_ONSTACK)) == (SA_SIGINFO | SA_RESTART));
  CHECK(sigismember(&after->segv.sa_mask, SIGUSR1) == 1);
  CHECK(sigismember(&after->segv.sa_mask, SIGBUS) == 0);
  CHECK(after->bus.sa_handler == before->bus.sa_handler);
  CHECK(after->bus.sa_flags == before->bus.sa_flags);
  REQUIRE(jitcm::platform::restore_fault_dispositions(*before));
}

TEST_CASE("install, uninstall, install again: the handler claims faults again", "[trap]") {
  manager_type manager;
  jit_functions jit{manager};
  guard_page guard;
  auto registration = attached(manager, jit.pad);
  {
    handlers_installed handlers;
    CHECK(load_from(jit.protected_load, guard) == trapped);
    REQUIRE(trap::uninstall());
    CHECK(reaches_previous_handler([&] { (void)load_from(jit.protected_load, guard); }));
    CHECK(last_forwarded.pc == jit.load_pc);
    REQUIRE(trap::install());
    CHECK(load_from(jit.protected_load, guard) == trapped);
  }
  CHECK_FALSE(trap::installed());
}

TEST_CASE("uninstall refuses to remove a handler installed over jitcm's", "[trap]") {
  auto before = jitcm::platform::current_fault_dispositions();
  REQUIRE(before);
  REQUIRE(trap::install());
  struct sigaction over {};
  over.sa_sigaction = &previous_handler;
  over.sa_flags = SA_SIGINFO;
  sigemptyset(&over.sa_mask);
  REQUIRE(::sigaction(SIGSEGV, &over, nullptr) == 0);
  auto refused = trap::uninstall();
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == jitcm::errc::busy);
  CHECK(trap::installed());
  REQUIRE(jitcm::platform::install_fault_handler(&trap::detail::on_fault));
  CHECK(trap::uninstall());
  REQUIRE(jitcm::platform::restore_fault_dispositions(*before));
}

TEST_CASE("two managers registered at once: each fault resumes at its own manager's pad", "[trap]") {
  handlers_installed handlers;
  manager_type first_manager, second_manager;
  jit_functions first{first_manager, trapped};
  jit_functions second{second_manager, trapped_elsewhere};
  guard_page guard;
  auto first_registration = attached(first_manager, first.pad);
  auto second_registration = attached(second_manager, second.pad);

  CHECK(load_from(first.protected_load, guard) == trapped);
  CHECK(load_from(second.protected_load, guard) == trapped_elsewhere);

  first_registration.detach();
  CHECK_FALSE(first_registration.attached());
  CHECK(reaches_previous_handler([&] { (void)load_from(first.protected_load, guard); }));
  CHECK(last_forwarded.pc == first.load_pc);
  CHECK(load_from(second.protected_load, guard) == trapped_elsewhere);
}

TEST_CASE("a module's own landing pad takes precedence over the manager's", "[trap]") {
  handlers_installed handlers;
  manager_type manager;
  jit_functions first{manager, trapped};
  jit_functions second{manager, trapped_elsewhere};
  guard_page guard;
  auto registration = attached(manager, first.pad);

  CHECK(load_from(second.protected_load, guard) == trapped);
  REQUIRE(registration.set_module_landing_pad(second.module.get(), second.pad->instruction_start()));
  CHECK(load_from(second.protected_load, guard) == trapped_elsewhere);
  CHECK(load_from(first.protected_load, guard) == trapped);
  REQUIRE(registration.clear_module_landing_pad(second.module.get()));
  CHECK(load_from(second.protected_load, guard) == trapped);

  // Without any pad, nothing is claimed.
  REQUIRE(registration.set_landing_pad(0));
  CHECK(reaches_previous_handler([&] { (void)load_from(first.protected_load, guard); }));
}

TEST_CASE("landing pad setters reject bad input and detached registrations", "[trap]") {
  manager_type manager;
  auto registration = trap::attach(manager, 0x1000);
  REQUIRE(registration);
  int modules[jitcm::trap::detail::module_landing_pads::capacity + 1] = {};

  CHECK(registration->set_module_landing_pad(nullptr, 0x1000).error() == jitcm::errc::invalid_argument);
  CHECK(registration->set_module_landing_pad(&modules[0], 0).error() == jitcm::errc::invalid_argument);
  CHECK(registration->clear_module_landing_pad(&modules[0]).error() == jitcm::errc::not_owned);
  for (std::size_t i = 0; i < jitcm::trap::detail::module_landing_pads::capacity; ++i) {
    REQUIRE(registration->set_module_landing_pad(&modules[i], 0x2000 + i));
  }
  CHECK(registration->set_module_landing_pad(&modules[jitcm::trap::detail::module_landing_pads::capacity], 1).error() ==
        jitcm::errc::limit_exceeded);
  REQUIRE(registration->set_module_landing_pad(&modules[3], 0x3000));  // replacing needs no room

  registration->detach();
  registration->detach();  // idempotent
  CHECK(registration->set_landing_pad(1).error() == jitcm::errc::not_owned);
  CHECK(registration->set_module_landing_pad(&modules[0], 1).error() == jitcm::errc::not_owned);
}

TEST_CASE("at most 16 registrations at once; a detached slot is reused", "[trap]") {
  manager_type manager;
  std::vector<trap::registration> registrations;
  for (std::size_t i = 0; i < jitcm::trap::detail::registry::capacity; ++i) {
    auto r = trap::attach(manager, 0x1000);
    REQUIRE(r);
    registrations.push_back(std::move(*r));
  }
  auto refused = trap::attach(manager, 0x1000);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == jitcm::errc::limit_exceeded);
  registrations.pop_back();
  CHECK(trap::attach(manager, 0x1000));
}

TEST_CASE("with the in-JIT-code guard required, faults are claimed only inside the guard", "[trap]") {
  handlers_installed handlers{{.require_thread_in_jit_code = true}};
  manager_type manager;
  jit_functions jit{manager};
  guard_page guard;
  auto registration = attached(manager, jit.pad);

  CHECK_FALSE(trap::thread_in_jit_code());
  CHECK(reaches_previous_handler([&] { (void)load_from(jit.protected_load, guard); }));
  {
    trap::thread_in_jit_code_guard in_jit;
    CHECK(trap::thread_in_jit_code());
    CHECK(load_from(jit.protected_load, guard) == trapped);
  }
  CHECK_FALSE(trap::thread_in_jit_code());
}

TEST_CASE("the handler runs on the thread's alternate stack", "[trap]") {
  handlers_installed handlers;
  jitcm::address_region stack_memory;
  forwarded_fault seen;
  bool forwarded = false;
  std::thread worker{[&] {
    auto stack = trap::alternate_stack::create();
    if (!stack) return;
    stack_memory = stack->memory();
    forwarded = reaches_previous_handler([] { fault_outside_jit_code(); });
    seen = last_forwarded;
  }};
  worker.join();
  REQUIRE_FALSE(stack_memory.empty());
  REQUIRE(forwarded);
  CHECK(stack_memory.contains(seen.handler_stack));

  // Without one, the handler runs on the thread's own stack.
  REQUIRE(reaches_previous_handler([] { fault_outside_jit_code(); }));
  CHECK_FALSE(stack_memory.contains(last_forwarded.handler_stack));
}

}  // namespace
