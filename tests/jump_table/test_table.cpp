// Table logic of every emitter on ordinary memory: layout, initialisation,
// retargeting near and far, and refusal of bad input without side effects.
// Nothing here executes the slots, so every architecture runs on any host.
#include <cstdint>
#include <cstring>
#include <vector>

#include <jitcm/jump_table/host.hpp>

#include "catch.hpp"

namespace jt = jitcm::jump_table;
using jitcm::address_region;
using jitcm::errc;

namespace {

/// A table of `functions` slots in one heap buffer: code area, then data area.
template <class Emitter>
struct plain_table {
  explicit plain_table(std::uint32_t functions)
      : storage((data_offset(functions) + Emitter::data_bytes(functions)) / 8 + 1) {
    const auto base = reinterpret_cast<std::uintptr_t>(storage.data());
    const std::uintptr_t data = base + data_offset(functions);
    view = {base, base, data, data, functions};
  }
  std::vector<std::uint64_t> snapshot() const { return storage; }
  static std::size_t data_offset(std::uint32_t functions) {
    return (Emitter::code_bytes(functions) + 7) & ~std::size_t{7};
  }

  std::vector<std::uint64_t> storage;
  jt::table_view view;
};

/// A write_scope_opener that records what it was asked and can fail.
struct recording_opener {
  struct scope {
    std::error_code end_error;
    jitcm::result<void> end() noexcept {
      if (end_error) return jitcm::failure{end_error};
      return {};
    }
  };
  jitcm::result<scope> operator()(address_region region) {
    ++opened;
    last = region;
    if (open_error) return jitcm::failure{open_error};
    return scope{end_error};
  }
  int opened = 0;
  address_region last;
  std::error_code open_error;
  std::error_code end_error;
};

constexpr std::uintptr_t lazy_entry = 0x123456789ab0;

// A target each emitter cannot reach from a near slot in the table.
template <class Emitter>
std::uintptr_t beyond_near(const jt::table_view& view) {
  if constexpr (Emitter::has_machine_code) {
    return (view.code_base + Emitter::near_range + 0x10000) & ~std::uintptr_t{15};
  } else {
    return view.code_base + 0x10000;
  }
}

template <class Emitter>
std::uint64_t far_cell(const jt::table_view& view, std::uint32_t i) {
  std::uint64_t value = 0;
  std::memcpy(&value, reinterpret_cast<const void*>(view.data_base + Emitter::far_target_offset(i)), 8);
  return value;
}

}  // namespace

#define EMITTERS \
  jt::basic_x64<false>, jt::basic_x64<true>, jt::basic_arm64<false>, jt::basic_arm64<true>, jt::riscv64, jt::portable

TEMPLATE_TEST_CASE("initialize leads every call target to its lazy slot", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{5};
  const jt::table_view& view = table.view;
  REQUIRE(TestType::initialize(view, lazy_entry));
  for (std::uint32_t i = 0; i < 5; ++i) {
    INFO("function " << i);
    if constexpr (TestType::has_machine_code) {
      const std::uintptr_t near = view.code_base + TestType::near_slot_offset(i);
      const std::uintptr_t lazy = view.code_base + TestType::lazy_slot_offset(i);
      CHECK(TestType::call_target(view, i) == near);
      CHECK(TestType::current_target(view, i) == lazy);
      CHECK(far_cell<TestType>(view, i) == lazy);
      const auto expected_near = TestType::encode_near_slot(near, lazy);
      REQUIRE(expected_near);
      CHECK(std::memcmp(reinterpret_cast<const void*>(near), expected_near->data(), TestType::near_slot_size) == 0);
      const auto expected_lazy = TestType::encode_lazy_slot(lazy, i, view.data_base + TestType::lazy_entry_offset);
      REQUIRE(expected_lazy);
      CHECK(std::memcmp(reinterpret_cast<const void*>(lazy), expected_lazy->data(), TestType::lazy_slot_size) == 0);
    } else {
      CHECK(TestType::call_target(view, i) == view.data_base + 8 * i);
      CHECK(TestType::current_target(view, i) == lazy_entry);
    }
  }
  CHECK(TestType::call_target(view, 5) == 0);
  CHECK(TestType::current_target(view, 5) == 0);
}

TEMPLATE_TEST_CASE("lazy slots hand over first_index plus the slot", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{3};
  jt::table_view view = table.view;
  view.first_index = 1000;
  REQUIRE(TestType::initialize(view, lazy_entry));
  if constexpr (TestType::has_machine_code) {
    for (std::uint32_t i = 0; i < 3; ++i) {
      const std::uintptr_t lazy = view.code_base + TestType::lazy_slot_offset(i);
      const auto expected = TestType::encode_lazy_slot(lazy, 1000 + i, view.data_base + TestType::lazy_entry_offset);
      REQUIRE(expected);
      CHECK(std::memcmp(reinterpret_cast<const void*>(lazy), expected->data(), TestType::lazy_slot_size) == 0);
    }
  }
  // Indices past the emitter's limit are refused before anything is written.
  plain_table<TestType> untouched{3};
  const auto before = untouched.snapshot();
  jt::table_view too_far = untouched.view;
  too_far.first_index = TestType::max_functions - 1;
  const auto refused = TestType::initialize(too_far, lazy_entry);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::limit_exceeded);
  CHECK(untouched.snapshot() == before);
}

TEMPLATE_TEST_CASE("routing::far_only sends near slots through the far slot", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{3};
  REQUIRE(TestType::initialize(table.view, lazy_entry, jt::routing::far_only));
  const std::uintptr_t target = beyond_near<TestType>(table.view) + 64;
  REQUIRE(TestType::patch_far(table.view, 1, target));
  CHECK(TestType::current_target(table.view, 1) == target);
  CHECK(far_cell<TestType>(table.view, 1) == target);
  CHECK(TestType::current_target(table.view, 0) != target);
}

TEMPLATE_TEST_CASE("patch retargets near in range and far beyond it", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{4};
  const jt::table_view& view = table.view;
  REQUIRE(TestType::initialize(view, lazy_entry));
  recording_opener opener;

  const std::uintptr_t near_target = view.code_base + 0x4000;
  REQUIRE(TestType::patch(view, 2, near_target, opener));
  CHECK(TestType::current_target(view, 2) == near_target);
  CHECK(far_cell<TestType>(view, 2) == near_target);
  if constexpr (TestType::has_machine_code) {
    CHECK(opener.opened == 1);
    CHECK(
        address_region{view.code_base + TestType::near_slot_offset(2), TestType::near_slot_size}.contains(opener.last));
  } else {
    CHECK(opener.opened == 0);
  }

  // Beyond near range: the far cell takes the target and the near slot is
  // pointed at the far slot once; later far retargets touch no code.
  const std::uintptr_t far_target = beyond_near<TestType>(view);
  const int opened_before = opener.opened;
  REQUIRE(TestType::patch(view, 2, far_target, opener));
  CHECK(TestType::current_target(view, 2) == far_target);
  CHECK(far_cell<TestType>(view, 2) == far_target);
  const int opened_for_switch = opener.opened - opened_before;
  CHECK(opened_for_switch == (TestType::has_machine_code ? 1 : 0));
  REQUIRE(TestType::patch(view, 2, far_target + 64, opener));
  CHECK(TestType::current_target(view, 2) == far_target + 64);
  CHECK(opener.opened - opened_before == opened_for_switch);
  REQUIRE(TestType::patch_far(view, 2, far_target + 128));
  CHECK(TestType::current_target(view, 2) == far_target + 128);

  // And back into range: the near slot branches straight there again.
  REQUIRE(TestType::patch(view, 2, near_target + 64, opener));
  CHECK(TestType::current_target(view, 2) == near_target + 64);
  if constexpr (TestType::has_machine_code) {
    const auto patch_far_again = TestType::patch_far(view, 2, far_target);
    REQUIRE_FALSE(patch_far_again);
    CHECK(patch_far_again.error() == errc::unsupported);
    CHECK(TestType::current_target(view, 2) == near_target + 64);
  }
  // Neighbours are untouched.
  for (const std::uint32_t other : {1u, 3u}) {
    CHECK(TestType::current_target(view, other) ==
          (TestType::has_machine_code ? view.code_base + TestType::lazy_slot_offset(other) : lazy_entry));
  }
}

TEMPLATE_TEST_CASE("patch refuses bad input and leaves the table as it was", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{4};
  const jt::table_view& view = table.view;
  REQUIRE(TestType::initialize(view, lazy_entry));
  REQUIRE(TestType::patch(view, 1, view.code_base + 0x800, jt::already_writable{}));
  const auto before = table.snapshot();
  recording_opener opener;

  const auto expect = [&](const jitcm::result<void>& r, errc code) {
    REQUIRE_FALSE(r);
    CHECK(r.error() == code);
    CHECK(table.snapshot() == before);
  };
  expect(TestType::patch(view, 4, view.code_base + 0x800, opener), errc::out_of_range);
  expect(TestType::patch(view, 0xFFFFFFFFu, view.code_base + 0x800, opener), errc::out_of_range);
  expect(TestType::patch(view, 1, 0, opener), errc::invalid_argument);
  expect(TestType::patch_far(view, 4, view.code_base + 0x800), errc::out_of_range);
  expect(TestType::patch_far(view, 1, 0), errc::invalid_argument);
  CHECK(opener.opened == 0);

  if constexpr (TestType::has_machine_code) {
    if constexpr (TestType::encoding::instruction_alignment > 1) {
      expect(TestType::patch(view, 1, view.code_base + 0x802 + 1, opener), errc::misaligned);
    }
    // An opener that fails: nothing stored, its error comes back.
    opener.open_error = std::make_error_code(std::errc::permission_denied);
    CHECK(TestType::patch(view, 1, view.code_base + 0x1000, opener).error() == std::errc::permission_denied);
    CHECK(TestType::patch(view, 1, beyond_near<TestType>(view), opener).error() == std::errc::permission_denied);
    CHECK(TestType::current_target(view, 1) == view.code_base + 0x800);

    // A scope that fails to end: the branch is in place, the error reported.
    opener.open_error = {};
    opener.end_error = std::make_error_code(std::errc::permission_denied);
    const auto ended_badly = TestType::patch(view, 1, view.code_base + 0x1000, opener);
    REQUIRE_FALSE(ended_badly);
    CHECK(ended_badly.error() == std::errc::permission_denied);
    CHECK(TestType::current_target(view, 1) == view.code_base + 0x1000);
  }
}

TEMPLATE_TEST_CASE("initialize refuses bad input and writes nothing", "[jump_table][table]", EMITTERS) {
  plain_table<TestType> table{4};
  const auto before = table.snapshot();
  const auto expect = [&](const jt::table_view& view, std::uintptr_t entry, errc code) {
    const auto r = TestType::initialize(view, entry);
    REQUIRE_FALSE(r);
    CHECK(r.error() == code);
    CHECK(table.snapshot() == before);
  };
  expect(table.view, 0, errc::invalid_argument);
  jt::table_view misaligned = table.view;
  misaligned.data_base += 4;
  misaligned.data_writable += 4;
  expect(misaligned, lazy_entry, errc::misaligned);
  jt::table_view no_data = table.view;
  no_data.data_base = 0;
  expect(no_data, lazy_entry, errc::invalid_argument);
  jt::table_view wrapping = table.view;
  wrapping.data_base = ~std::uintptr_t{7};
  expect(wrapping, lazy_entry, errc::size_overflow);
  if constexpr (TestType::has_machine_code) {
    jt::table_view misaligned_code = table.view;
    misaligned_code.code_writable += 4;
    expect(misaligned_code, lazy_entry, errc::misaligned);
    // The data area said to be beyond the far slots' reach (nothing is
    // written, so the address need not exist).
    jt::table_view distant = table.view;
    distant.data_base = table.view.code_base + (std::uintptr_t{1} << 33);
    expect(distant, lazy_entry, errc::target_out_of_range);
  }
}

TEST_CASE("arm64 needs its data area within 1 MiB of the slots", "[jump_table][table]") {
  plain_table<jt::arm64> table{2};
  jt::table_view view = table.view;
  const auto before = table.snapshot();
  view.data_base = view.code_base + (std::uintptr_t{1} << 20) + 64;
  const auto r = jt::arm64::initialize(view, lazy_entry);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::target_out_of_range);
  CHECK(table.snapshot() == before);
}

TEST_CASE("a table with no functions initializes to nothing", "[jump_table][table]") {
  plain_table<jt::host> table{0};
  REQUIRE(jt::host::initialize(table.view, lazy_entry));
  CHECK(jt::host::call_target(table.view, 0) == 0);
}

TEST_CASE("riscv64 accepts targets on halfword boundaries (compressed code)", "[jump_table][table]") {
  plain_table<jt::riscv64> table{2};
  REQUIRE(jt::riscv64::initialize(table.view, lazy_entry));
  const std::uintptr_t near_target = table.view.code_base + 0x1002;
  REQUIRE(jt::riscv64::patch(table.view, 1, near_target, jt::already_writable{}));
  CHECK(jt::riscv64::current_target(table.view, 1) == near_target);
  const std::uintptr_t far_target = table.view.code_base + (std::uintptr_t{8} << 20) + 2;
  REQUIRE(jt::riscv64::patch(table.view, 1, far_target, jt::already_writable{}));
  CHECK(jt::riscv64::current_target(table.view, 1) == far_target);
}
