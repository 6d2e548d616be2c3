// Faults the trap handler does not claim, handed to each kind of previous
// disposition (default, ignore, a plain handler) in a child process, whose
// end is the behaviour under test; and SIGBUS, handled like SIGSEGV.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "child_process.hpp"
#include "trap_fixture.hpp"

namespace {

using namespace jitcm::testing;
namespace trap = jitcm::trap;
using jitcm::testing::child_outcome;
using jitcm::testing::run_in_child;

constexpr int setup_failed = 3;
constexpr int survived = 4;
constexpr int plain_handler_exit = 42;

/// In the child: `previous` for both fault signals, jitcm's handler over it,
/// a manager with protected code attached, then `fault(jit, guard)`.
template <class Fault>
child_outcome fault_in_child(void (*previous)(int), Fault fault) {
  return run_in_child([&] {
    ::signal(SIGSEGV, previous);
    ::signal(SIGBUS, previous);
    if (!trap::install()) ::_exit(setup_failed);
    manager_type manager;
    auto module = manager.new_module({});
    auto pad = module ? publish(**module, return_constant(trapped).span()) : nullptr;
    const load_function load;
    const std::uint32_t return_offset[] = {load.return_offset};
    auto unprotected = module ? publish(**module, load.code.span(), return_offset) : nullptr;
    auto guard = jitcm::platform::reserve(jitcm::platform::page_size());
    if (pad == nullptr || unprotected == nullptr || !guard) ::_exit(setup_failed);
    auto registration = trap::attach(manager, pad->instruction_start());
    if (!registration) ::_exit(setup_failed);
    fault(unprotected, guard->pointer<const void>());
    ::_exit(survived);
  });
}

void null_dereference(const jitcm::code*, const void*) { fault_outside_jit_code(); }
void unprotected_jit_load(const jitcm::code* unprotected, const void* guard) { (void)call_load(unprotected, guard); }
void sent_segv(const jitcm::code*, const void*) { (void)::raise(SIGSEGV); }

void plain_handler(int) { ::_exit(plain_handler_exit); }

/// Jumps back the first time; a second call means SA_RESETHAND was ignored.
void one_shot_handler(int signal, siginfo_t* info, void* context) {
  static int calls = 0;
  if (++calls > 1) ::_exit(plain_handler_exit);
  previous_handler(signal, info, context);
}

bool died_of_segv(const child_outcome& outcome) { return outcome.signalled && outcome.signal == SIGSEGV; }

TEST_CASE("previous SIG_DFL: a fault outside JIT code kills the process with SIGSEGV", "[trap]") {
  CHECK(died_of_segv(fault_in_child(SIG_DFL, null_dereference)));
}

TEST_CASE("previous SIG_DFL: a fault at an unprotected JIT instruction kills the process with SIGSEGV", "[trap]") {
  CHECK(died_of_segv(fault_in_child(SIG_DFL, unprotected_jit_load)));
}

TEST_CASE("previous SIG_DFL: a sent SIGSEGV kills the process with SIGSEGV", "[trap]") {
  CHECK(died_of_segv(fault_in_child(SIG_DFL, sent_segv)));
}

TEST_CASE("previous SIG_IGN: a real fault still kills the process, a sent SIGSEGV is ignored", "[trap]") {
  CHECK(died_of_segv(fault_in_child(SIG_IGN, null_dereference)));
  const child_outcome ignored = fault_in_child(SIG_IGN, sent_segv);
  CHECK(ignored.exited);
  CHECK(ignored.exit_code == survived);
}

TEST_CASE("previous plain handler: it is called with the signal number", "[trap]") {
  const child_outcome outcome = fault_in_child(plain_handler, null_dereference);
  CHECK(outcome.exited);
  CHECK(outcome.exit_code == plain_handler_exit);
}

TEST_CASE("previous one-shot handler (SA_RESETHAND): called once, the next fault kills", "[trap]") {
  const child_outcome outcome = run_in_child([] {
    struct sigaction one_shot {};
    one_shot.sa_sigaction = &one_shot_handler;
    one_shot.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&one_shot.sa_mask);
    ::sigaction(SIGSEGV, &one_shot, nullptr);
    if (!trap::install()) ::_exit(setup_failed);
    if (!reaches_previous_handler([] { fault_outside_jit_code(); })) ::_exit(setup_failed);
    fault_outside_jit_code();
    ::_exit(survived);
  });
  CHECK(died_of_segv(outcome));
}

TEST_CASE("a SIGBUS at a protected instruction is claimed like a SIGSEGV", "[trap]") {
  // A shared mapping of an empty file: touching it raises SIGBUS.
  const int file = ::memfd_create("jitcm-trap-test", 0);
  REQUIRE(file >= 0);
  const std::size_t page = jitcm::platform::page_size();
  void* beyond_end = ::mmap(nullptr, page, PROT_READ, MAP_SHARED, file, 0);
  ::close(file);
  REQUIRE(beyond_end != MAP_FAILED);

  handlers_installed handlers;
  manager_type manager;
  jit_functions jit{manager};
  auto registration = attached(manager, jit.pad);
  CHECK(call_load(jit.protected_load, beyond_end) == trapped);
  CHECK(trap::last_fault() == trap::fault{jit.load_pc, reinterpret_cast<std::uintptr_t>(beyond_end)});
  CHECK(reaches_previous_handler([&] { (void)call_load(jit.unprotected_load, beyond_end); }));
  CHECK(last_forwarded.signal == SIGBUS);
  ::munmap(beyond_end, page);
}

}  // namespace
