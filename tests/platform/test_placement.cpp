// Placement: code spaces land within a direct branch's reach of the host
// binary when asked, and say where they landed.
#include <jitcm/allocator/all.hpp>
#include <jitcm/jitcm.hpp>
#include <jitcm/platform/placement.hpp>
#include <jitcm/platform/reservation.hpp>
#include <jitcm/protection/host_default.hpp>

#include <cstring>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;

namespace {

// The reach a JIT on this host would place code for: a rel32 call on
// x86-64, a `bl` elsewhere (AArch64's; RISC-V's jal is shorter still, and
// JITs there call through auipc+jalr, which reach ±2 GiB).
#if defined(JITCM_ARCH_ARM64)
constexpr std::size_t branch_reach = platform::arm64_bl_reach;
#else
constexpr std::size_t branch_reach = platform::x64_rel32_reach;
#endif
constexpr std::size_t space_bytes = std::size_t{8} << 20;

int host_function() { return 7; }

/// A range around a function of this test executable: the host binary.
address_region near_host_binary() {
  return platform::within_reach({reinterpret_cast<std::uintptr_t>(&host_function), 1}, branch_reach - space_bytes);
}

/// Pages this test executable occupies itself, around host_function: no
/// hint there can be honoured.
address_region inside_host_binary() {
  const std::uintptr_t page = platform::page_size();
  const std::uintptr_t host = reinterpret_cast<std::uintptr_t>(&host_function) & ~(page - 1);
  return {host - 4 * page, 8 * page};
}

std::size_t distance(std::uintptr_t a, std::uintptr_t b) { return a > b ? a - b : b - a; }

bool reaches_host(address_region region) {
  const auto host = reinterpret_cast<std::uintptr_t>(&host_function);
  return distance(region.begin(), host) < branch_reach && distance(region.end() - 1, host) < branch_reach;
}

auto reserve_plain(std::size_t bytes) {
  return [bytes](std::uintptr_t hint) { return platform::reservation::reserve(bytes, hint); };
}

}  // namespace

TEST_CASE("within_reach is the range every byte of the runtime reaches", "[platform][placement]") {
  const std::uintptr_t runtime = std::uintptr_t{1} << 40;
  const address_region range = platform::within_reach({runtime, 0x1000}, 0x100000);
  CHECK(range.begin() == runtime + 0x1000 - 0x100000);
  CHECK(range.end() == runtime + 0x100000);
  CHECK(range.contains(address_region{runtime, 0x1000}));

  // Clipped above the first page near address zero, and at the top.
  const address_region low = platform::within_reach({0x20000, 0x1000}, std::size_t{1} << 30);
  CHECK(low.begin() == platform::page_size());
  const address_region high = platform::within_reach({~std::uintptr_t{0} - 0x2000, 0x1000}, std::size_t{1} << 30);
  CHECK(high.end() == ~std::uintptr_t{0});

  CHECK(platform::within_reach({runtime, 0x2000}, 0x1000).empty());  // a runtime larger than the reach
  CHECK(platform::within_reach({}, 0x1000).empty());
}

TEST_CASE("placement_of says where a region landed", "[platform][placement]") {
  const address_region preferred{0x100000, 0x100000};
  CHECK(platform::placement_of({0x140000, 0x1000}, preferred) == platform::placement::preferred);
  CHECK(platform::placement_of({0x1ff000, 0x2000}, preferred) == platform::placement::fallback);
  CHECK(platform::placement_of({0x140000, 0x1000}, {}) == platform::placement::anywhere);
}

TEST_CASE("a reservation lands within branch reach of the host binary", "[platform][placement]") {
  const address_region range = near_host_binary();
  REQUIRE(!range.empty());
  auto placed = platform::reserve_preferring(range, space_bytes, 0, reserve_plain(space_bytes));
  REQUIRE(placed);
  CHECK(placed->where == platform::placement::preferred);
  CHECK(range.contains(placed->space.region()));
  CHECK(reaches_host(placed->space.region()));

  // A second one too, beside the first.
  auto second = platform::reserve_preferring(range, space_bytes, 0, reserve_plain(space_bytes));
  REQUIRE(second);
  CHECK(second->where == platform::placement::preferred);
  CHECK(reaches_host(second->space.region()));
}

TEST_CASE("a range nothing can be placed in falls back, or fails when required", "[platform][placement]") {
  const address_region unmappable = inside_host_binary();
  auto fallback =
      platform::reserve_preferring(unmappable, platform::page_size(), 0, reserve_plain(platform::page_size()));
  REQUIRE(fallback);
  CHECK(fallback->where == platform::placement::fallback);
  CHECK(!unmappable.contains(fallback->space.region()));

  auto required =
      platform::reserve_preferring(unmappable, platform::page_size(), 0, reserve_plain(platform::page_size()), true);
  REQUIRE(!required);
  CHECK(required.error() == make_error_code(errc::address_space_exhausted));

  // A range smaller than the reservation is not tried at all.
  auto too_small = platform::reserve_preferring(near_host_binary().take_front(platform::page_size()), space_bytes, 0,
                                                reserve_plain(space_bytes), true);
  REQUIRE(!too_small);
  CHECK(too_small.error() == make_error_code(errc::address_space_exhausted));

  // Errors other than a lack of room come back as they are.
  auto refused = platform::reserve_preferring(near_host_binary(), space_bytes, 0, [](std::uintptr_t) {
    return result<platform::reservation>{failure{errc::unsupported}};
  });
  REQUIRE(!refused);
  CHECK(refused.error() == make_error_code(errc::unsupported));
}

TEST_CASE("an allocator places every code space in its preferred range and says so", "[platform][placement]") {
  allocator::options o;
  o.preferred_range = near_host_binary();
  o.max_code_space_size = space_bytes;
  allocator::tlsf<protection::host_default> code(o);
  // Enough blocks for several spaces.
  for (int i = 0; i < 5; ++i) REQUIRE(code.allocate(space_bytes / 2));
  REQUIRE(code.code_spaces().size() >= 2);
  for (const code_space& space : code.code_spaces()) {
    CHECK(space.placed == platform::placement::preferred);
    CHECK(reaches_host(space.region));
  }

  allocator::tlsf<protection::host_default> anywhere;
  REQUIRE(anywhere.allocate(64));
  CHECK(anywhere.code_spaces()[0].placed == platform::placement::anywhere);
}

TEST_CASE("an allocator that requires its range reports a range it cannot use", "[platform][placement]") {
  allocator::options o;
  o.preferred_range = inside_host_binary();
  o.require_preferred_range = true;
  o.max_code_space_size = 4 * platform::page_size();
  o.min_code_space_size = 4 * platform::page_size();
  o.commit_granularity = platform::page_size();
  allocator::tlsf<protection::host_default> code(o);
  auto block = code.allocate(64);
  REQUIRE(!block);
  CHECK(block.error() == make_error_code(errc::address_space_exhausted));
  CHECK(code.code_spaces().empty());
}

TEST_CASE("a module's code lands within a direct call of the host binary", "[platform][placement]") {
  code_manager manager;
  auto module = manager.new_module({.functions = 1, .lazy_entry = 1, .preferred_range = near_host_binary()});
  REQUIRE(module);
  const example::return_constant code(11);
  auto room = (*module)->allocate(code.size);
  REQUIRE(room);
  std::memcpy(room->writable(), code.bytes.data(), code.size);
  const std::uintptr_t at = room->executable();
  REQUIRE((*module)->publish(*room, {.index = 0, .tier = tiering::two_tier::optimized}));
  CHECK(reaches_host({at, code.size}));
  CHECK(reaches_host({*(*module)->call_target(0), 1}));
  CHECK(example::function_at(*(*module)->call_target(0))() == 11);
}
