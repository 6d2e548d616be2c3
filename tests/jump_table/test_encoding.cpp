// Emitted slot bytes against the system assembler's bytes for the same
// instructions (reference_slots.py), for every architecture on any host.
#include <cstdint>
#include <string>

#include <jitcm/jump_table/host.hpp>

#include "catch.hpp"
#include "reference_case.hpp"

#if defined(JITCM_TEST_REFERENCE_X64)
#include "reference_x64.hpp"
#endif
#if defined(JITCM_TEST_REFERENCE_ARM64)
#include "reference_arm64.hpp"
#endif
#if defined(JITCM_TEST_REFERENCE_RISCV64)
#include "reference_riscv64.hpp"
#endif

namespace jt = jitcm::jump_table;

namespace {

// Far from zero and from the top, so every case's target is a plain address.
constexpr std::uintptr_t slot_address = 0x7f0012340000;

template <class Emitter>
void check_case(const reference_case& c) {
  INFO(Emitter::name << ": " << c.source);
  const std::uintptr_t other = slot_address + static_cast<std::uintptr_t>(c.delta);
  std::string emitted;
  auto compare = [&](const auto& bytes) {
    REQUIRE(bytes);
    REQUIRE(bytes->size() == c.size);
    for (std::size_t i = 0; i < c.size; ++i) {
      INFO("byte " << i);
      CHECK(static_cast<unsigned>((*bytes)[i]) == static_cast<unsigned>(c.bytes[i]));
    }
  };
  switch (c.kind) {
    case slot_kind::near:
      compare(Emitter::encode_near_slot(slot_address, other));
      break;
    case slot_kind::far:
      compare(Emitter::encode_far_slot(slot_address, other));
      break;
    case slot_kind::lazy:
      compare(Emitter::encode_lazy_slot(slot_address, c.index, other));
      break;
  }
}

template <template <bool> class Emitter, std::size_t N>
void check_all(const reference_case (&cases)[N]) {
  for (const reference_case& c : cases) {
    if (c.landing_pads) {
      check_case<Emitter<true>>(c);
    } else {
      check_case<Emitter<false>>(c);
    }
  }
}

template <bool>
using riscv64_any = jt::riscv64;

}  // namespace

TEST_CASE("x64 slots match the assembler", "[jump_table][encoding]") {
#if defined(JITCM_TEST_REFERENCE_X64)
  check_all<jt::basic_x64>(reference_x64::cases);
#else
  WARN("no x86-64 assembler on the build machine: x64 encodings not checked");
#endif
}

TEST_CASE("arm64 slots match the assembler", "[jump_table][encoding]") {
#if defined(JITCM_TEST_REFERENCE_ARM64)
  check_all<jt::basic_arm64>(reference_arm64::cases);
#else
  WARN("no AArch64 assembler on the build machine: arm64 encodings not checked");
#endif
}

TEST_CASE("riscv64 slots match the assembler", "[jump_table][encoding]") {
#if defined(JITCM_TEST_REFERENCE_RISCV64)
  check_all<riscv64_any>(reference_riscv64::cases);
#else
  WARN("no RISC-V assembler on the build machine: riscv64 encodings not checked");
#endif
}

// Reach: the last distance that encodes, the first that does not.
template <class Emitter>
void check_near_reach(std::int64_t last_forward, std::int64_t last_backward, std::int64_t step) {
  INFO(Emitter::name);
  const auto at = [](std::int64_t delta) { return slot_address + static_cast<std::uintptr_t>(delta); };
  CHECK(Emitter::encode_near_slot(slot_address, at(last_forward)));
  CHECK(Emitter::encode_near_slot(slot_address, at(last_backward)));
  const auto beyond_forward = Emitter::encode_near_slot(slot_address, at(last_forward + step));
  REQUIRE_FALSE(beyond_forward);
  CHECK(beyond_forward.error() == jitcm::errc::target_out_of_range);
  const auto beyond_backward = Emitter::encode_near_slot(slot_address, at(last_backward - step));
  REQUIRE_FALSE(beyond_backward);
  CHECK(beyond_backward.error() == jitcm::errc::target_out_of_range);
  // near_range is a promise: anything within it encodes.
  CHECK(Emitter::reaches_near(slot_address, at(static_cast<std::int64_t>(Emitter::near_range))));
  CHECK(Emitter::reaches_near(slot_address, at(-static_cast<std::int64_t>(Emitter::near_range))));
  CHECK(Emitter::max_code_space_size <= Emitter::near_range + 8);
}

TEST_CASE("near slots report targets beyond their reach", "[jump_table][encoding]") {
  constexpr std::int64_t two_gib = std::int64_t{1} << 31;
  // jmp rel32 counts from the end of the jmp (slot + 5, or + 13 after endbr64 and a nop).
  check_near_reach<jt::basic_x64<false>>(two_gib - 1 + 5, -two_gib + 5, 1);
  check_near_reach<jt::basic_x64<true>>(two_gib - 1 + 13, -two_gib + 13, 1);
  constexpr std::int64_t b_reach = std::int64_t{1} << 27;
  check_near_reach<jt::basic_arm64<false>>(b_reach - 4, -b_reach, 4);
  check_near_reach<jt::basic_arm64<true>>(b_reach - 4 + 4, -b_reach + 4, 4);
  check_near_reach<jt::riscv64>((std::int64_t{1} << 20) - 2, -(std::int64_t{1} << 20), 2);
}

TEST_CASE("branches to addresses no instruction can start at are refused", "[jump_table][encoding]") {
  auto arm = jt::arm64::encode_near_slot(slot_address, slot_address + 0x102);
  REQUIRE_FALSE(arm);
  CHECK(arm.error() == jitcm::errc::misaligned);
  auto riscv = jt::riscv64::encode_near_slot(slot_address, slot_address + 0x101);
  REQUIRE_FALSE(riscv);
  CHECK(riscv.error() == jitcm::errc::misaligned);
  auto arm_far = jt::arm64::encode_far_slot(slot_address, slot_address + 0x102);
  REQUIRE_FALSE(arm_far);
  CHECK(arm_far.error() == jitcm::errc::misaligned);
}

TEST_CASE("far and lazy slots report data beyond their reach", "[jump_table][encoding]") {
  constexpr std::uintptr_t mib = std::uintptr_t{1} << 20;
  constexpr std::uintptr_t four_gib = std::uintptr_t{1} << 32;
  const auto expect_out_of_range = [](const auto& r) {
    REQUIRE_FALSE(r);
    CHECK(r.error() == jitcm::errc::target_out_of_range);
  };
  expect_out_of_range(jt::arm64::encode_far_slot(slot_address, slot_address + mib));
  expect_out_of_range(jt::arm64::encode_far_slot(slot_address, slot_address - mib - 8));
  expect_out_of_range(jt::arm64::encode_lazy_slot(slot_address, 3, slot_address + 2 * mib));
  expect_out_of_range(jt::x64::encode_far_slot(slot_address, slot_address + four_gib));
  expect_out_of_range(jt::x64::encode_lazy_slot(slot_address, 3, slot_address - four_gib));
  expect_out_of_range(jt::riscv64::encode_far_slot(slot_address, slot_address + four_gib));
  expect_out_of_range(jt::riscv64::encode_lazy_slot(slot_address, 3, slot_address - four_gib));
  const auto index_too_large = jt::riscv64::encode_lazy_slot(slot_address, 0x80000000u, slot_address + 64);
  REQUIRE_FALSE(index_too_large);
  CHECK(index_too_large.error() == jitcm::errc::out_of_range);
}

TEST_CASE("emitters satisfy the concept and lay slots out without overlap", "[jump_table][layout]") {
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::x64>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::basic_x64<true>>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::arm64>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::basic_arm64<true>>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::riscv64>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::portable>);
  STATIC_REQUIRE(jitcm::jump_table_emitter<jt::host>);
  STATIC_REQUIRE_FALSE(jitcm::jump_table_emitter<int>);

  STATIC_REQUIRE(jt::basic_x64<false>::near_slot_size == 8);
  STATIC_REQUIRE(jt::basic_x64<true>::near_slot_size == 16);
  STATIC_REQUIRE(jt::basic_arm64<false>::max_code_space_size == std::size_t{128} << 20);
  STATIC_REQUIRE(jt::basic_x64<false>::max_code_space_size >= std::size_t{1} << 30);
  STATIC_REQUIRE(jt::riscv64::max_code_space_size == std::size_t{1} << 20);
  STATIC_REQUIRE(jt::x64::code_bytes(10) == 10 * jt::x64::near_slot_offset(1));
  STATIC_REQUIRE(jt::x64::far_slot_offset(3) == jt::x64::near_slot_offset(3) + jt::x64::near_slot_size);
  STATIC_REQUIRE(jt::x64::lazy_slot_offset(3) + jt::x64::lazy_slot_size == jt::x64::near_slot_offset(4));
  STATIC_REQUIRE(jt::x64::data_bytes(10) >= jt::x64::far_target_offset(9) + 8);
  STATIC_REQUIRE(jt::portable::code_bytes(10) == 0);
  STATIC_REQUIRE(jt::portable::data_bytes(10) == 80);
#if defined(JITCM_ARCH_X64)
  STATIC_REQUIRE(std::is_same_v<jt::host, jt::x64>);
#elif defined(JITCM_ARCH_ARM64)
  STATIC_REQUIRE(std::is_same_v<jt::host, jt::arm64>);
#elif defined(JITCM_ARCH_RISCV64)
  STATIC_REQUIRE(std::is_same_v<jt::host, jt::riscv64>);
#endif
}
