// Windows x64 unwind info: windows_unwind::build and parse, and
// observe::unwind_registry registering JIT code with RtlAddFunctionTable so
// that the OS finds its RUNTIME_FUNCTION, stack walks pass through it and a
// C++ exception thrown under it reaches the C++ frame that called it.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <jitcm/observe/unwind_registry.hpp>
#include <jitcm/observe/windows_unwind.hpp>

#include "catch.hpp"
#include "jit_code.hpp"

namespace wu = jitcm::observe::windows_unwind;
using jitcm::observe::unwind_registry;

namespace {

/// `void f() { callee(); }` in the Windows x64 convention: 40 bytes of
/// stack (the callee's shadow space, and alignment) around the call.
struct windows_caller {
  static constexpr std::uint32_t prologue_size = 4;
  static constexpr std::uint32_t stack_bytes = 40;
  std::vector<std::byte> bytes;

  explicit windows_caller(void (*callee)()) {
    const unsigned char code[] = {0x48, 0x83, 0xEC, 0x28,                    // sub rsp, 40
                                  0x48, 0xB8, 0,    0,    0, 0, 0, 0, 0, 0,  // movabs rax, callee
                                  0xFF, 0xD0,                                // call rax
                                  0x48, 0x83, 0xC4, 0x28,                    // add rsp, 40
                                  0xC3};                                     // ret
    bytes.resize(sizeof code);
    std::memcpy(bytes.data(), code, sizeof code);
    const auto target = reinterpret_cast<std::uint64_t>(callee);
    std::memcpy(bytes.data() + 6, &target, sizeof target);
  }

  [[nodiscard]] std::vector<std::byte> unwind_info() const {
    auto built = wu::build({.code_size = static_cast<std::uint32_t>(bytes.size()),
                            .prologue_size = prologue_size,
                            .stack_bytes = stack_bytes});
    REQUIRE(built);
    return *built;
  }
};

[[noreturn]] void throw_from_callback() { throw std::runtime_error{"thrown under JIT code"}; }

// The return addresses RtlCaptureStackBackTrace sees from inside the callback.
std::vector<std::uintptr_t> frames_seen;
void capture_stack() {
  void* frames[32];
  const USHORT count = RtlCaptureStackBackTrace(0, 32, frames, nullptr);
  frames_seen.assign(reinterpret_cast<std::uintptr_t*>(frames), reinterpret_cast<std::uintptr_t*>(frames) + count);
}

[[gnu::noinline]] void marker_caller(void (*f)()) {
  f();
  asm volatile("" ::: "memory");  // keeps the call from becoming a tail call
}

// A module of one function in a manager that tells `registry` about its code.
jitcm::code_manager::module_ptr observed_module(jitcm::code_manager& manager, unwind_registry& registry) {
  manager.add_observer(registry);
  auto created = manager.new_module({.functions = 1, .lazy_entry = jitcm::testing::lazy_entry()});
  REQUIRE(created);
  return std::move(*created);
}

struct unwinding_fixture {
  jitcm::code_manager manager;
  unwind_registry registry;
  jitcm::code_manager::module_ptr module = observed_module(manager, registry);

  ~unwinding_fixture() {
    module.reset();
    manager.remove_observer(registry);
  }

  const jitcm::code* publish_caller(void (*callee)(), bool with_unwind_info = true) {
    const windows_caller function{callee};
    const std::vector<std::byte> unwind = function.unwind_info();
    const jitcm::code* c = jitcm::testing::publish_bytes(
        *module, function.bytes,
        {.index = 0,
         .name = "jit_caller",
         .unwind_info = with_unwind_info ? std::span{unwind} : std::span<const std::byte>{}});
    REQUIRE(c != nullptr);
    return c;
  }
};

}  // namespace

TEST_CASE("windows_unwind::build describes the prologue in UNWIND_INFO's codes", "[unwind][windows]") {
  auto small = wu::build({.code_size = 21, .prologue_size = 4, .stack_bytes = 40});
  REQUIRE(small);
  const std::vector<std::byte> expected_small{std::byte{16},
                                              {},
                                              {},
                                              {},  // length
                                              {},
                                              {},
                                              {},
                                              {},  // begin 0
                                              std::byte{21},
                                              {},
                                              {},
                                              {},  // end 21
                                              std::byte{1},
                                              std::byte{4},
                                              std::byte{1},
                                              std::byte{0},  // version 1, prologue 4, 1 code, no frame register
                                              std::byte{4},
                                              std::byte{0x42},
                                              {},
                                              {}};  // at 4: UWOP_ALLOC_SMALL (40 - 8) / 8, padding
  CHECK(*small == expected_small);

  auto framed = wu::build({.code_size = 64, .prologue_size = 11, .stack_bytes = 256, .frame_pointer = true});
  REQUIRE(framed);
  auto entries = wu::parse(*framed);
  REQUIRE(entries);
  REQUIRE(entries->size() == 1);
  const std::span<const std::byte> info = (*entries)[0].unwind_info;
  CHECK(std::to_integer<int>(info[1]) == 11);
  CHECK(std::to_integer<int>(info[2]) == 4);     // alloc_large (2 slots), set_fpreg, push rbp
  CHECK(std::to_integer<int>(info[3]) == 5);     // rbp, offset 0
  CHECK(std::to_integer<int>(info[5]) == 0x01);  // at 11: UWOP_ALLOC_LARGE, size / 8 in the next slot
  CHECK(std::to_integer<int>(info[6]) == 32);
  CHECK(std::to_integer<int>(info[9]) == 0x03);   // at 4: UWOP_SET_FPREG
  CHECK(std::to_integer<int>(info[11]) == 0x50);  // at 1: UWOP_PUSH_NONVOL rbp

  CHECK(wu::build({.code_size = 0, .prologue_size = 0, .stack_bytes = 8}).error() == jitcm::errc::invalid_argument);
  CHECK(wu::build({.code_size = 8, .prologue_size = 4, .stack_bytes = 12}).error() == jitcm::errc::invalid_argument);
  CHECK(wu::build({.code_size = 8, .prologue_size = 7, .stack_bytes = 40}).error() == jitcm::errc::invalid_argument);
  CHECK(wu::build({.code_size = 2, .prologue_size = 4, .stack_bytes = 40}).error() == jitcm::errc::invalid_argument);
}

TEST_CASE("windows_unwind::parse rejects entries that do not tile or describe nothing", "[unwind][windows]") {
  auto good = wu::build({.code_size = 21, .prologue_size = 4, .stack_bytes = 40});
  REQUIRE(good);
  std::vector<std::byte> two = *good;
  two.insert(two.end(), good->begin(), good->end());
  auto both = wu::parse(two);
  REQUIRE(both);
  CHECK(both->size() == 2);

  std::vector<std::byte> cut(good->begin(), good->end() - 4);
  CHECK(wu::parse(cut).error() == jitcm::errc::invalid_argument);
  std::vector<std::byte> reversed = *good;
  reversed[8] = std::byte{0};  // end 0 <= begin 0
  CHECK(wu::parse(reversed).error() == jitcm::errc::invalid_argument);
  std::vector<std::byte> version2 = *good;
  version2[12] = std::byte{2};
  CHECK(wu::parse(version2).error() == jitcm::errc::invalid_argument);
}

TEST_CASE("registered JIT code has a RUNTIME_FUNCTION the OS finds, until it is freed", "[unwind][windows]") {
  unwinding_fixture fixture;
  const jitcm::code* c = fixture.publish_caller(&capture_stack);
  CHECK(fixture.registry.registered() == 1);
  CHECK(fixture.registry.rejected() == 0);
  const std::uintptr_t start = c->instruction_start();
  DWORD64 image_base = 0;
  PRUNTIME_FUNCTION found = RtlLookupFunctionEntry(start + 5, &image_base, nullptr);
  REQUIRE(found != nullptr);
  CHECK(image_base + found->BeginAddress == start);
  CHECK(image_base + found->EndAddress == start + 21);

  fixture.module.reset();
  CHECK(fixture.registry.registered() == 0);
  CHECK(RtlLookupFunctionEntry(start + 5, &image_base, nullptr) == nullptr);
}

TEST_CASE("code without unwind info is not registered; malformed info is counted as rejected", "[unwind][windows]") {
  unwinding_fixture fixture;
  const jitcm::code* c = fixture.publish_caller(&capture_stack, false);
  CHECK(fixture.registry.registered() == 0);
  DWORD64 image_base = 0;
  CHECK(RtlLookupFunctionEntry(c->instruction_start() + 5, &image_base, nullptr) == nullptr);

  // Entries that tile (code::create accepts them) but are not version 1.
  std::vector<std::byte> bad = windows_caller{&capture_stack}.unwind_info();
  bad[12] = std::byte{3};
  unwind_registry registry;
  auto module = observed_module(fixture.manager, registry);
  const windows_caller function{&capture_stack};
  REQUIRE(jitcm::testing::publish_bytes(*module, function.bytes, {.index = 0, .unwind_info = bad}) != nullptr);
  CHECK(registry.rejected() == 1);
  CHECK(registry.registered() == 0);
  module.reset();
  fixture.manager.remove_observer(registry);
}

TEST_CASE("a stack walk from under JIT code reaches the C++ frame that called it", "[unwind][windows]") {
  unwinding_fixture fixture;
  const jitcm::code* c = fixture.publish_caller(&capture_stack);
  marker_caller(reinterpret_cast<void (*)()>(c->instruction_start()));
  const auto marker = reinterpret_cast<std::uintptr_t>(&marker_caller);
  bool saw_jit = false, saw_marker_after_jit = false;
  for (std::uintptr_t pc : frames_seen) {
    if (c->instructions().contains(pc)) saw_jit = true;
    // marker_caller is small: its return address lies within 64 bytes of it.
    if (saw_jit && pc > marker && pc < marker + 64) saw_marker_after_jit = true;
  }
  CHECK(saw_jit);
  CHECK(saw_marker_after_jit);
}

TEST_CASE("a C++ exception thrown under JIT code reaches the C++ frame that called it", "[unwind][windows]") {
  unwinding_fixture fixture;
  const jitcm::code* c = fixture.publish_caller(&throw_from_callback);
  REQUIRE(fixture.registry.registered() == 1);
  std::string caught;
  try {
    marker_caller(reinterpret_cast<void (*)()>(c->instruction_start()));
  } catch (const std::runtime_error& error) {
    caught = error.what();
  }
  CHECK(caught == "thrown under JIT code");
}

TEST_CASE("unwind copies lie within 4 GiB of their code wherever the code is, and their room goes with them",
          "[unwind][windows]") {
  // Code far above this binary and its heap (if the OS grants the hint).
  auto far = jitcm::platform::reservation::reserve(std::size_t{1} << 20, std::uintptr_t{1} << 42);
  REQUIRE(far);
  const jitcm::address_region code = far->region();
  INFO("code at " << std::hex << code.begin());
  jitcm::observe::detail::unwind_copy_room room;
  std::byte* first = room.take(code, 24);
  std::byte* second = room.take(code, 40);
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);
  CHECK(room.reaches(code, {reinterpret_cast<std::uintptr_t>(first), 64}));
  CHECK(second == first + 24);  // one chunk, filled front to back
  CHECK(room.chunks() == 1);
  std::memset(first, 0xab, 64);  // committed read-write

  room.give_back(first);
  CHECK(room.chunks() == 1);  // `second` still lives there
  room.give_back(second);
  CHECK(room.chunks() == 0);
  MEMORY_BASIC_INFORMATION info{};
  REQUIRE(VirtualQuery(first, &info, sizeof info) != 0);
  CHECK(info.State == MEM_FREE);
}
