// Instruction-cache maintenance: code rewritten in place runs as rewritten,
// wherever it starts and whatever lines and pages it straddles.
#include <jitcm/platform/dual_mapping.hpp>
#include <jitcm/platform/instruction_cache.hpp>
#include <jitcm/platform/reservation.hpp>

#include <cstring>
#include <vector>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;

namespace {

// Instructions are 4-byte aligned on AArch64 and RISC-V (without C); x86-64
// takes any byte.
#if defined(JITCM_ARCH_X64)
constexpr std::size_t instruction_alignment = 1;
#else
constexpr std::size_t instruction_alignment = 4;
#endif

/// Offsets inside a two-page mapping where a function starts: the first
/// byte, unaligned to any cache line, across a 64-byte line, across the
/// page boundary, and the last one that fits.
std::vector<std::size_t> awkward_offsets(std::size_t page) {
  constexpr std::size_t code = example::return_constant::size;
  return {0,
          instruction_alignment,
          64 - instruction_alignment,
          128 - code / 2,
          page - instruction_alignment,
          page - code / 2,
          2 * page - code};
}

}  // namespace

TEST_CASE("cache lines cover an unaligned range, its partial lines included", "[platform][icache]") {
  std::vector<std::uintptr_t> lines;
  const auto record = [&](std::uintptr_t line) { lines.push_back(line); };

  platform::detail::for_each_cache_line(0x1003c, 8, 64, record);  // straddles 0x10040
  CHECK(lines == std::vector<std::uintptr_t>{0x10000, 0x10040});

  lines.clear();
  platform::detail::for_each_cache_line(0x10040, 64, 64, record);  // exactly one line
  CHECK(lines == std::vector<std::uintptr_t>{0x10040});

  lines.clear();
  platform::detail::for_each_cache_line(0x10041, 128, 16, record);  // unaligned at both ends
  REQUIRE(lines.size() == 9);
  CHECK(lines.front() == 0x10040);
  CHECK(lines.back() == 0x100c0);
}

#if defined(JITCM_ARCH_ARM64) && defined(JITCM_OS_LINUX)
TEST_CASE("the cache line sizes come from CTR_EL0 and are architecturally valid", "[platform][icache]") {
  const auto type = platform::detail::read_cache_type();
  CHECK(platform::is_power_of_two(type.data_line));
  CHECK(platform::is_power_of_two(type.instruction_line));
  CHECK(type.data_line >= 4);
  CHECK(type.data_line <= 2048);  // CTR_EL0's four-bit log2 of words: at most 2 KiB
  CHECK(type.instruction_line >= 4);
  CHECK(type.instruction_line <= 2048);
}
#endif

TEST_CASE("code rewritten in place under mprotect toggling runs as rewritten", "[platform][icache]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::reservation::reserve(2 * page);
  REQUIRE(memory);
  const address_region whole = memory->region();
  REQUIRE(memory->commit(whole, platform::access::read_write));

  int value = 100;
  for (const std::size_t offset : awkward_offsets(page)) {
    const std::uintptr_t at = whole.begin() + offset;
    INFO("offset " << offset);
    for (int round = 0; round < 3; ++round) {
      REQUIRE(memory->protect(whole, platform::access::read_write));
      const example::return_constant code(static_cast<std::uint32_t>(++value));
      std::memcpy(reinterpret_cast<void*>(at), code.bytes.data(), code.size);
      REQUIRE(memory->protect(whole, platform::access::read_execute));
      platform::flush_instruction_cache(at, code.size);
      CHECK(example::function_at(at)() == value);
    }
  }
}

#if defined(JITCM_HAS_DUAL_MAPPING)
// qemu-user translates code once and sees no stores through the second view,
// whatever is flushed: cross builds leave this case out.
namespace {

/// Writes `int f() { return value; }` at `write_at` and flushes its bytes at
/// `run_at`, exactly them and no more: what a JIT patching in place does.
int rewrite_and_call(std::uintptr_t write_at, std::uintptr_t run_at, int value) {
  const example::return_constant code(static_cast<std::uint32_t>(value));
  std::memcpy(reinterpret_cast<void*>(write_at), code.bytes.data(), code.size);
  platform::flush_instruction_cache(run_at, code.size);
  return example::function_at(run_at)();
}

}  // namespace

TEST_CASE("code rewritten through the writable view runs as rewritten", "[platform][icache][alias-rewrite]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::dual_mapped_reservation::reserve(2 * page);
  REQUIRE(memory);
  REQUIRE(memory->commit(memory->executable()));
  const std::uintptr_t offset = memory->write_offset();

  int value = 200;
  for (const std::size_t at : awkward_offsets(page)) {
    INFO("offset " << at);
    const std::uintptr_t run_at = memory->executable().begin() + at;
    for (int round = 0; round < 3; ++round) {
      ++value;
      CHECK(rewrite_and_call(run_at + offset, run_at, value) == value);
    }
  }
}
#endif
