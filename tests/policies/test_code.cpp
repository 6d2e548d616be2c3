#include <array>
#include <cstring>
#include <string>

#include "catch.hpp"
#include "support.hpp"

#include <jitcm/base/code.hpp>

using jitcm::code;
using jitcm::code_desc;
using jitcm::errc;
using jitcm::source_position;

namespace {

constexpr std::uintptr_t base = 0x7000'0000;
constexpr std::array<std::uint32_t, 4> protected_offsets{3, 17, 40, 99};
constexpr std::array<source_position, 3> positions{{{0, 10}, {8, 12}, {50, 30}}};
int owner_tag = 0;

code_desc full_desc() {
  code_desc desc;
  desc.instructions = {base, 100};
  desc.index = 7;
  desc.kind = jitcm::code_kind::function;
  desc.tier = jitcm::tier{2};
  desc.debug = jitcm::debug_kind::with_breakpoints;
  desc.name = "wasm-function[7]";
  desc.protected_instructions = protected_offsets;
  desc.source_positions = positions;
  desc.owner = &owner_tag;
  return desc;
}

std::error_code create_error(const code_desc& desc) {
  auto created = code::create(desc);
  REQUIRE_FALSE(created);
  return created.error();
}

}  // namespace

TEST_CASE("code is small: within V8's 104-byte WasmCode budget", "[code]") {
  STATIC_REQUIRE(sizeof(code) <= 104);
  if constexpr (sizeof(void*) == 8) STATIC_REQUIRE(sizeof(code) == 56);
}

TEST_CASE("code reports what it was created with", "[code]") {
  auto created = code::create(full_desc());
  REQUIRE(created);
  const code& c = **created;
  CHECK((c.instructions() == jitcm::address_region{base, 100}));  // parenthesised: Catch2 would print it as a range
  CHECK(c.instruction_start() == base);
  CHECK(c.instructions_size() == 100);
  CHECK(c.index() == std::optional<std::uint32_t>{7});
  CHECK(c.kind() == jitcm::code_kind::function);
  CHECK(c.tier() == jitcm::tier{2});
  CHECK(c.for_debugging() == jitcm::debug_kind::with_breakpoints);
  CHECK(c.is_debug_code());
  CHECK(c.name() == "wasm-function[7]");
  CHECK(c.owner() == &owner_tag);
  CHECK(c.ref_count() == 1);
  REQUIRE(c.protected_instructions().size() == protected_offsets.size());
  CHECK(std::equal(c.protected_instructions().begin(), c.protected_instructions().end(), protected_offsets.begin()));
  REQUIRE(c.source_positions().size() == positions.size());
  CHECK(std::equal(c.source_positions().begin(), c.source_positions().end(), positions.begin()));
  CHECK(c.metadata_bytes() == 4 * sizeof(std::uint32_t) + 3 * sizeof(source_position) + 16);
}

TEST_CASE("code copies its name and metadata", "[code]") {
  std::string name = "transient";
  std::array<std::uint32_t, 2> offsets{1, 2};
  code_desc desc;
  desc.instructions = {base, 8};
  desc.index = 0;
  desc.name = name;
  desc.protected_instructions = offsets;
  auto created = code::create(desc);
  REQUIRE(created);
  name.assign("overwrite");
  offsets = {5, 6};
  CHECK((*created)->name() == "transient");
  CHECK((*created)->is_protected_instruction(base + 1));
  CHECK_FALSE((*created)->is_protected_instruction(base + 5));
}

TEST_CASE("code without metadata or index", "[code]") {
  code_desc desc;
  desc.instructions = {base, 16};
  desc.kind = jitcm::code_kind::wrapper;
  auto created = code::create(desc);
  REQUIRE(created);
  const code& c = **created;
  CHECK_FALSE(c.index().has_value());
  CHECK(c.name().empty());
  CHECK(c.metadata_bytes() == 0);
  CHECK(c.protected_instructions().empty());
  CHECK_FALSE(c.is_protected_instruction(base));
  CHECK_FALSE(c.source_position_before(0).has_value());
  CHECK_FALSE(c.is_debug_code());
}

TEST_CASE("is_protected_instruction finds exactly the protected offsets", "[code]") {
  auto created = code::create(full_desc());
  REQUIRE(created);
  const code& c = **created;
  for (std::uintptr_t pc = base - 4; pc < base + 104; ++pc) {
    const bool expected =
        pc >= base && pc < base + 100 &&
        std::find(protected_offsets.begin(), protected_offsets.end(), pc - base) != protected_offsets.end();
    CHECK(c.is_protected_instruction(pc) == expected);
  }
  CHECK_FALSE(c.is_protected_instruction(0));
}

TEST_CASE("source_position_before gives the entry at or before an offset", "[code]") {
  code_desc desc = full_desc();
  const std::array<source_position, 2> late{{{4, 1}, {9, 2}}};
  desc.source_positions = late;
  auto created = code::create(desc);
  REQUIRE(created);
  const code& c = **created;
  CHECK_FALSE(c.source_position_before(0).has_value());
  CHECK_FALSE(c.source_position_before(3).has_value());
  CHECK(c.source_position_before(4) == source_position{4, 1});
  CHECK(c.source_position_before(8) == source_position{4, 1});
  CHECK(c.source_position_before(9) == source_position{9, 2});
  CHECK(c.source_position_before(99) == source_position{9, 2});
  CHECK_FALSE(c.source_position_before(100).has_value());  // outside the instructions

  auto full = code::create(full_desc());
  REQUIRE(full);
  CHECK((*full)->source_position_before(0) == source_position{0, 10});
  CHECK((*full)->source_position_before(49) == source_position{8, 12});
  CHECK((*full)->source_position_before(50) == source_position{50, 30});
}

TEST_CASE("the reference count starts at one and counts", "[code]") {
  auto created = code::create(full_desc());
  REQUIRE(created);
  const code& c = **created;
  c.add_ref();
  CHECK(c.ref_count() == 2);
  CHECK_FALSE(c.drop_ref());
  CHECK(c.drop_ref());
  CHECK(c.ref_count() == 0);
}

TEST_CASE("code::create rejects bad descriptions with a clear error", "[code]") {
  SECTION("empty instructions") {
    code_desc desc = full_desc();
    desc.instructions = {base, 0};
    CHECK(create_error(desc) == errc::invalid_argument);
  }
  SECTION("instructions wrapping around the address space") {
    code_desc desc = full_desc();
    desc.instructions = {UINTPTR_MAX - 10, 100};
    CHECK(create_error(desc) == errc::size_overflow);
  }
  SECTION("a function without an index") {
    code_desc desc = full_desc();
    desc.index.reset();
    CHECK(create_error(desc) == errc::invalid_argument);
  }
  SECTION("the reserved no-index value") {
    code_desc desc = full_desc();
    desc.index = code::no_index;
    CHECK(create_error(desc) == errc::out_of_range);
  }
  SECTION("unsorted protected offsets") {
    code_desc desc = full_desc();
    const std::array<std::uint32_t, 3> unsorted{5, 3, 9};
    desc.protected_instructions = unsorted;
    CHECK(create_error(desc) == errc::invalid_argument);
  }
  SECTION("repeated protected offsets") {
    code_desc desc = full_desc();
    const std::array<std::uint32_t, 2> repeated{5, 5};
    desc.protected_instructions = repeated;
    CHECK(create_error(desc) == errc::invalid_argument);
  }
  SECTION("a protected offset outside the instructions") {
    code_desc desc = full_desc();
    const std::array<std::uint32_t, 2> outside{5, 100};
    desc.protected_instructions = outside;
    CHECK(create_error(desc) == errc::out_of_range);
  }
  SECTION("unsorted source positions") {
    code_desc desc = full_desc();
    const std::array<source_position, 2> unsorted{{{8, 1}, {2, 2}}};
    desc.source_positions = unsorted;
    CHECK(create_error(desc) == errc::invalid_argument);
  }
  SECTION("a source position outside the instructions") {
    code_desc desc = full_desc();
    const std::array<source_position, 1> outside{{{100, 1}}};
    desc.source_positions = outside;
    CHECK(create_error(desc) == errc::out_of_range);
  }
}
