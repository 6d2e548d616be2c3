// detail::jump_table_set on its own: tables written into plain memory that
// poses as code spaces, write scopes from a recording opener that refuses
// on request. Nothing here runs the slots; what a call through a slot would
// reach is read back with the emitter's current_target.
#include <jitcm/detail/jump_table_set.hpp>
#include <jitcm/jump_table/host.hpp>
#include <jitcm/jump_table/portable.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "catch.hpp"

using jitcm::address_region;
using jitcm::code_space;
using jitcm::errc;
using jitcm::jump_table::routing;

namespace {

constexpr std::size_t fake_space_size = 64 * 1024;
constexpr std::size_t header_area = 16 * 1024;

/// Plain memory laid out as a code space: code header, data header, code.
/// Writes land at the same addresses unless a separate writable copy is asked for.
class fake_space {
 public:
  fake_space() : memory_{allocate()} {}
  [[nodiscard]] std::uintptr_t base() const { return reinterpret_cast<std::uintptr_t>(memory_.get()); }
  [[nodiscard]] code_space layout() const {
    return {.region = {base(), fake_space_size},
            .code_header = {base(), header_area},
            .data_header = {base() + header_area, header_area},
            .code = {base() + 2 * header_area, fake_space_size - 2 * header_area}};
  }
  /// An address in the code area, as code published there would have.
  [[nodiscard]] std::uintptr_t code_at(std::size_t offset) const { return base() + 2 * header_area + offset; }
  [[nodiscard]] bool zero(address_region r) const {
    const auto* bytes = reinterpret_cast<const std::byte*>(r.begin());
    return std::all_of(bytes, bytes + r.size(), [](std::byte b) { return b == std::byte{0}; });
  }

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{4096}); }
  };
  static std::unique_ptr<std::byte[], aligned_delete> allocate() {
    auto* p = static_cast<std::byte*>(::operator new[](fake_space_size, std::align_val_t{4096}));
    std::fill(p, p + fake_space_size, std::byte{0});
    return std::unique_ptr<std::byte[], aligned_delete>{p};
  }
  std::unique_ptr<std::byte[], aligned_delete> memory_;
};

/// A write_scope_opener that records what it opened and refuses the
/// regions it is told to.
struct recording_opener {
  struct scope {
    bool fail_end = false;
    jitcm::result<void> end() const {
      if (fail_end) return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
      return {};
    }
  };
  std::vector<address_region> opened;
  std::optional<address_region> refuse;  // open() fails for regions inside it
  bool fail_end = false;

  jitcm::result<scope> operator()(address_region r) {
    if (refuse && refuse->contains(r)) return jitcm::failure{std::make_error_code(std::errc::permission_denied)};
    opened.push_back(r);
    return scope{fail_end};
  }
};

constexpr std::uint32_t slots = 6;
constexpr std::uint32_t first_index = 2;
constexpr std::uintptr_t raw_lazy_entry = 0x5000;

template <class J>
using set_of = jitcm::detail::jump_table_set<J>;

auto nothing_installed = [](std::uint32_t) -> std::uintptr_t { return 0; };

template <class J>
std::uintptr_t lazy_target_of(const jitcm::jump_table::table_view& view, std::uint32_t slot) {
  if constexpr (J::has_machine_code) {
    return view.code_base + J::lazy_slot_offset(slot);
  } else {
    return raw_lazy_entry;
  }
}

/// A set over two fake spaces, with routing chosen as asked.
template <class J>
struct tables_fixture {
  set_of<J> tables{slots, first_index, {}, raw_lazy_entry};
  fake_space first, second;
  recording_opener open;

  explicit tables_fixture(std::optional<routing> route = std::nullopt, bool write_revokes_execute = false) {
    REQUIRE(tables.choose_routing(route, write_revokes_execute));
  }
  /// Adds `space`'s table; slot i of it leads to installed[i] (0 or missing: its lazy slot).
  jitcm::result<void> add(const fake_space& space, const std::vector<std::uintptr_t>& installed = {}) {
    return tables.add_space(space.layout(), space.base(), space.base() + header_area, open,
                            [&](std::uint32_t slot) { return slot < installed.size() ? installed[slot] : 0; });
  }
};

}  // namespace

TEMPLATE_TEST_CASE("a new space's table leads every slot to its lazy slot", "[core][jump_table_set]",
                   jitcm::jump_table::host, jitcm::jump_table::portable) {
  tables_fixture<TestType> f;
  auto& [tables, space, unused, open] = f;
  CHECK(tables.routing() == routing::near);
  REQUIRE(f.add(space));

  REQUIRE(tables.size() == 1);
  const auto view = tables.views().front();
  CHECK(view.code_base == space.base());
  CHECK(view.data_base == space.base() + header_area);
  CHECK(view.slots == slots);
  CHECK(view.first_index == first_index);
  for (std::uint32_t slot = 0; slot < slots; ++slot) {
    CHECK(TestType::current_target(view, slot) == lazy_target_of<TestType>(view, slot));
    CHECK(tables.call_target(slot) == TestType::call_target(view, slot));
  }
  // Machine-code tables are written inside one scope over the code header;
  // a table of pointers is data and opens none.
  if constexpr (TestType::has_machine_code) {
    REQUIRE(open.opened.size() == 1);
    CHECK(open.opened.front().begin() == space.layout().code_header.begin());
    CHECK(open.opened.front().size() == space.layout().code_header.size());
  } else {
    CHECK(open.opened.empty());
  }
}

TEMPLATE_TEST_CASE("retargeting reaches every space's table and the lazy slot again", "[core][jump_table_set]",
                   jitcm::jump_table::host, jitcm::jump_table::portable) {
  tables_fixture<TestType> f;
  auto& [tables, first, second, open] = f;
  REQUIRE(f.add(first));
  REQUIRE(f.add(second));
  REQUIRE(tables.size() == 2);

  const std::uintptr_t target = first.code_at(0x40);
  bool stranded = false;
  REQUIRE(tables.retarget(3, target, 0, open, stranded));
  CHECK_FALSE(stranded);
  for (const auto& view : tables.views()) {
    CHECK(TestType::current_target(view, 3) == target);
    CHECK(TestType::current_target(view, 2) == lazy_target_of<TestType>(view, 2));  // its neighbour is untouched
  }
  // The stable call target is the first space's, whatever the slot leads to.
  CHECK(tables.call_target(3) == TestType::call_target(tables.views().front(), 3));

  REQUIRE(tables.retarget(3, 0, target, open, stranded));
  for (const auto& view : tables.views()) CHECK(TestType::current_target(view, 3) == lazy_target_of<TestType>(view, 3));
}

TEMPLATE_TEST_CASE("a later space's table routes to the code installed before it", "[core][jump_table_set]",
                   jitcm::jump_table::host, jitcm::jump_table::portable) {
  tables_fixture<TestType> f;
  auto& [tables, first, second, open] = f;
  REQUIRE(f.add(first));
  const std::vector<std::uintptr_t> installed{0, first.code_at(0x80), 0, 0, first.code_at(0x100), 0};
  REQUIRE(f.add(second, installed));

  const auto view = tables.views().back();
  for (std::uint32_t slot = 0; slot < slots; ++slot) {
    const std::uintptr_t expected = installed[slot] != 0 ? installed[slot] : lazy_target_of<TestType>(view, slot);
    CHECK(TestType::current_target(view, slot) == expected);
  }
}

TEST_CASE("a refused write scope leaves the set without the new table", "[core][jump_table_set]") {
  tables_fixture<jitcm::jump_table::host> f;
  auto& [tables, space, unused, open] = f;
  open.refuse = space.layout().region;
  const auto added = f.add(space);
  REQUIRE_FALSE(added);
  CHECK(added.error() == std::errc::permission_denied);
  CHECK(tables.size() == 0);
  CHECK(space.zero(space.layout().code_header));  // nothing was written outside a scope

  open.refuse.reset();
  open.fail_end = true;
  const auto ended = f.add(space);
  REQUIRE_FALSE(ended);
  CHECK(ended.error() == std::errc::permission_denied);
  CHECK(tables.size() == 0);
}

TEST_CASE("a retarget one table refuses is put back in every table", "[core][jump_table_set]") {
  using J = jitcm::jump_table::host;
  tables_fixture<J> f{routing::near};
  auto& [tables, first, second, open] = f;
  REQUIRE(f.add(first));
  REQUIRE(f.add(second));
  const std::uintptr_t before = first.code_at(0x40);
  bool stranded = false;
  REQUIRE(tables.retarget(1, before, 0, open, stranded));

  // The second space's slot page refuses to become writable: the first
  // table, already retargeted, goes back to `before`.
  open.refuse = second.layout().region;
  const auto moved = tables.retarget(1, first.code_at(0x400), before, open, stranded);
  REQUIRE_FALSE(moved);
  CHECK(moved.error() == std::errc::permission_denied);
  CHECK_FALSE(stranded);
  for (const auto& view : tables.views()) CHECK(J::current_target(view, 1) == before);

  // A scope whose end is refused after the store: the put-back is refused
  // the same way, so the set reports the slot stranded.
  open.refuse.reset();
  open.fail_end = true;
  const auto unended = tables.retarget(1, first.code_at(0x400), before, open, stranded);
  REQUIRE_FALSE(unended);
  CHECK(unended.error() == std::errc::permission_denied);
  CHECK(stranded);
}

TEST_CASE("far-only routing retargets by data stores, with no write scope", "[core][jump_table_set]") {
  using J = jitcm::jump_table::host;
  // Write scopes that take execute permission away choose far-only routing,
  // and refuse near routing.
  tables_fixture<J> f{std::nullopt, true};
  auto& [tables, space, unused, open] = f;
  REQUIRE(tables.routing() == routing::far_only);
  CHECK(tables.choose_routing(routing::near, true).error() == errc::invalid_argument);
  REQUIRE(f.add(space));
  const std::size_t scopes_for_setup = open.opened.size();
  const std::uintptr_t target = space.code_at(0x200);
  bool stranded = false;
  REQUIRE(tables.retarget(4, target, 0, open, stranded));
  CHECK(J::current_target(tables.views().front(), 4) == target);
  CHECK(open.opened.size() == scopes_for_setup);
}

TEST_CASE("a lazy-compile callback adds a context entry after the slots", "[core][jump_table_set]") {
  using J = jitcm::jump_table::host;
  using set_type = set_of<J>;
  if constexpr (!set_type::has_context_entry) {
    WARN("the host emitter writes no context entries");
  } else {
    constexpr std::size_t entry_offset = (J::code_bytes(slots) + 15) & ~std::size_t{15};
    CHECK(set_type::code_header_bytes(slots, false) == J::code_bytes(slots));
    CHECK(set_type::code_header_bytes(slots, true) == entry_offset + J::context_entry_size);
    CHECK(set_type::code_header_bytes(0, true) == J::code_bytes(0));  // no slots, no lazy calls
    CHECK(set_type::data_header_bytes(slots) == J::data_bytes(slots));

    const jitcm::jump_table::lazy_compile_callback callback{
        .function = [](void*, std::uint32_t) noexcept -> std::uintptr_t { return 0; }};
    set_type tables{slots, first_index, callback, 0};
    REQUIRE(tables.choose_routing(std::nullopt, false));
    fake_space space;
    recording_opener open;
    REQUIRE(tables.add_space(space.layout(), space.base(), space.base() + header_area, open, nothing_installed));
    const std::uintptr_t entry = space.base() + entry_offset;
    CHECK_FALSE(space.zero({entry, J::context_entry_size}));
    CHECK(space.zero({entry + J::context_entry_size, header_area - entry_offset - J::context_entry_size}));
    // Lazy slots still lead to themselves; they reach the entry through the data area.
    CHECK(J::current_target(tables.views().front(), 0) == space.base() + J::lazy_slot_offset(0));
  }
}

TEST_CASE("tables are written through the writable view", "[core][jump_table_set]") {
  using J = jitcm::jump_table::portable;
  set_of<J> tables{slots, first_index, {}, raw_lazy_entry};
  REQUIRE(tables.choose_routing(std::nullopt, false));
  fake_space executable, writable;
  recording_opener open;
  REQUIRE(
      tables.add_space(executable.layout(), writable.base(), writable.base() + header_area, open, nothing_installed));
  CHECK(executable.zero(executable.layout().data_header));
  jitcm::jump_table::table_view seen_through_writable = tables.views().front();
  seen_through_writable.data_base = writable.base() + header_area;
  for (std::uint32_t slot = 0; slot < slots; ++slot) {
    CHECK(J::current_target(seen_through_writable, slot) == raw_lazy_entry);
  }
}
