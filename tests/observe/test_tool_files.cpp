// What the tools read, read back: perf map lines, jitdump records field by
// field, the GDB JIT descriptor's ELF images; with the default W^X strategy
// and under dual mapping, where every address must be the executable view's.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <jitcm/observe/environment.hpp>
#include <jitcm/observe/gdb_jit.hpp>
#include <jitcm/observe/jitdump.hpp>
#include <jitcm/observe/perf_map.hpp>
#include <jitcm/observe/symbolizer.hpp>

#include "catch.hpp"
#include "jit_code.hpp"
#include "jitdump_reader.hpp"
#include "machine_code.hpp"

namespace {

using dual_mapped_manager =
    jitcm::with_allocator<jitcm::code_manager, jitcm::allocator::default_allocator<jitcm::protection::dual_mapping>>;

/// A scratch directory, removed with its files.
struct scratch_directory {
  std::string path;
  scratch_directory() {
    char name[] = "/tmp/jitcm-observe-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~scratch_directory() { std::system(("rm -rf '" + path + "'").c_str()); }
};

/// Whether `address` lies in a mapping of this process with execute permission.
bool executable_address(std::uintptr_t address) {
  std::ifstream maps{"/proc/self/maps"};
  std::string line;
  while (std::getline(maps, line)) {
    std::uintptr_t begin = 0, end = 0;
    char permissions[5] = {};
    if (std::sscanf(line.c_str(), "%zx-%zx %4s", &begin, &end, permissions) != 3) continue;
    if (address >= begin && address < end) return permissions[2] == 'x';
  }
  return false;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in{path};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool address_region_contains(const jitcm::testing::jitdump_record& load, std::uintptr_t address) {
  return address >= load.code_address && address < load.code_address + load.code_size;
}

jitcm::observe::source_line line_of(void* context, const jitcm::code&, std::uint32_t source_offset) noexcept {
  (void)context;
  if (source_offset == 0) return {};  // no line: left out of the record
  return {"script.js", static_cast<std::int32_t>(source_offset)};
}

template <class Manager>
struct module_fixture {
  Manager manager;
  typename Manager::module_ptr module;

  void create(std::uint32_t functions = 2) {
    auto created = manager.new_module({.functions = functions, .lazy_entry = jitcm::testing::lazy_entry()});
    REQUIRE(created);
    module = std::move(*created);
  }
  const jitcm::code* publish(std::uint32_t index, const char* name,
                             std::span<const jitcm::source_position> positions = {},
                             std::span<const std::byte> unwind = {}) {
    const example::return_constant bytes{index + 40};
    const jitcm::code* c = jitcm::testing::publish_bytes(
        *module, bytes.bytes, {.index = index, .name = name, .source_positions = positions, .unwind_info = unwind});
    REQUIRE(c != nullptr);
    return c;
  }
};

}  // namespace

TEST_CASE("jump_table_slot names say what the slot is and for which function", "[perf_map]") {
  CHECK(jitcm::slot_name{{{0x1000, 8}, jitcm::slot_kind::jump_slot, 7}}.view() == "jitcm::jump_slot[7]");
  CHECK(jitcm::slot_name{{{0x1000, 8}, jitcm::slot_kind::lazy_slot, 4294967295u}}.view() ==
        "jitcm::lazy_slot[4294967295]");
}

TEST_CASE("the environment switches parse as documented", "[environment]") {
  using jitcm::observe::parse_environment;
  CHECK(parse_environment("map", nullptr).perf_map);
  CHECK(!parse_environment("map", nullptr).jitdump);
  CHECK(parse_environment("jitdump", "1").jitdump);
  CHECK(parse_environment("jitdump", "1").gdb);
  CHECK(!parse_environment("yes", "0").perf_map);
  CHECK(!parse_environment("yes", "0").jitdump);
  CHECK(!parse_environment(nullptr, "true").gdb);
}

TEST_CASE("tool files that cannot be created are reported, not fatal", "[perf_map][jitdump]") {
  auto map = jitcm::observe::perf_map::open("/nonexistent-directory/perf-1.map");
  REQUIRE(!map);
  CHECK(map.error() == std::errc::no_such_file_or_directory);
  auto dump = jitcm::observe::jitdump::open({.directory = "/nonexistent-directory"});
  REQUIRE(!dump);
  CHECK(dump.error() == std::errc::no_such_file_or_directory);
}

TEMPLATE_TEST_CASE("perf map lines name code and slots at their executable addresses", "[perf_map]",
                   jitcm::code_manager, dual_mapped_manager) {
  scratch_directory directory;
  const std::string path = directory.path + "/perf-test.map";
  auto map = jitcm::observe::perf_map::open(path);
  REQUIRE(map);
  module_fixture<TestType> fixture;
  fixture.manager.add_observer(**map);
  fixture.create();
  const jitcm::code* first = fixture.publish(0, "first_function");
  const jitcm::code* second = fixture.publish(1, "");  // unnamed: named after its index

  // Each publish ended a batch, so the lines are in the file already.
  const std::vector<std::string> lines = lines_of(path);
  const std::regex format{"([0-9a-f]+) ([0-9a-f]+) (.+)"};
  std::map<std::string, std::pair<std::uintptr_t, std::size_t>> by_name;
  for (const std::string& line : lines) {
    std::smatch parts;
    REQUIRE(std::regex_match(line, parts, format));
    const std::uintptr_t start = std::stoull(parts[1], nullptr, 16);
    by_name[parts[3]] = {start, std::stoull(parts[2], nullptr, 16)};
    CHECK(executable_address(start));
  }
  CHECK(lines.size() == 2 + 2 * 2);  // two functions, a jump slot and a lazy slot each
  CHECK((*map)->lines_written() == lines.size());
  CHECK(by_name.at("first_function") == std::pair{first->instruction_start(), first->instructions_size()});
  CHECK(by_name.at("jitcm::function[1]") == std::pair{second->instruction_start(), second->instructions_size()});
  for (std::uint32_t index : {0u, 1u}) {
    const auto [slot_start, slot_size] = by_name.at("jitcm::jump_slot[" + std::to_string(index) + "]");
    const std::uintptr_t target = *fixture.module->call_target(index);
    CHECK(target >= slot_start);
    CHECK(target < slot_start + slot_size);
    CHECK(by_name.count("jitcm::lazy_slot[" + std::to_string(index) + "]") == 1);
  }
  fixture.module.reset();
  fixture.manager.remove_observer(**map);
}

TEMPLATE_TEST_CASE("a jitdump holds the header, the slots, and each code's unwind, debug and load records", "[jitdump]",
                   jitcm::code_manager, dual_mapped_manager) {
  scratch_directory directory;
  std::string path;
  std::uintptr_t code_start = 0;
  jitcm::address_region first_slot{};
  bool code_executable = false;
  std::vector<std::byte> unwind;
  {
    auto dump = jitcm::observe::jitdump::open({.directory = directory.path, .lines = {&line_of, nullptr}});
    REQUIRE(dump);
    path = (*dump)->path();
    CHECK(path == directory.path + "/jit-" + std::to_string(::getpid()) + ".dump");
    // The marker: the dump is mapped executable, which perf records.
    bool marker = false;
    std::ifstream maps{"/proc/self/maps"};
    for (std::string line; std::getline(maps, line);) {
      if (line.find(path) != std::string::npos && line.find("r-xp") != std::string::npos) marker = true;
    }
    CHECK(marker);

    module_fixture<TestType> fixture;
    fixture.manager.add_observer(**dump);
    fixture.create(1);
    auto built = jitcm::observe::eh_frame::build(jitcm::observe::eh_frame::host,
                                                 jitcm::observe::eh_frame::leaf(example::return_constant::size));
    REQUIRE(built);
    unwind = *built;
    const jitcm::source_position positions[] = {{0, 0}, {1, 12}, {5, 13}};
    const jitcm::code* c = fixture.publish(0, "traced", positions, unwind);
    (*dump)->on_code_moved(*c, {0x1000, c->instructions_size()});
    // Addresses are checked against the process's mappings while they exist.
    code_start = c->instruction_start();
    code_executable = executable_address(code_start);
    first_slot = {*fixture.module->call_target(0), 1};
    fixture.module.reset();
    fixture.manager.remove_observer(**dump);
  }
  const auto contents = jitcm::testing::read_jitdump(path);
  REQUIRE(contents);
  const auto& h = contents->header;
  CHECK(h.magic == 0x4A695444);
  CHECK(h.version == 1);
  CHECK(h.elf_mach == jitcm::observe::jitdump_format::host_machine);
  CHECK(h.pid == static_cast<std::uint32_t>(::getpid()));
  CHECK(h.flags == 0);

  const auto& records = contents->records;
  REQUIRE(records.size() == 2 + 3 + 1 + 1);  // 2 slots; unwind, debug, load; move; close
  std::uint64_t previous = h.timestamp;
  for (const auto& r : records) {
    CHECK(r.timestamp >= previous);  // CLOCK_MONOTONIC, in order
    previous = r.timestamp;
  }
  CHECK(records[0].id == 0);
  CHECK(records[0].name == "jitcm::jump_slot[0]");
  CHECK(records[1].name == "jitcm::lazy_slot[0]");
  CHECK(address_region_contains(records[0], first_slot.begin()));

  const auto& unwinding = records[2];
  REQUIRE(unwinding.id == 4);
  CHECK(unwinding.mapped_size == 0);
  CHECK(unwinding.unwinding_size == unwind.size() + 4 + unwinding.header_size);
  auto fdes = jitcm::observe::eh_frame::parse(std::span{unwinding.unwinding}.first(unwind.size()));
  REQUIRE(fdes);
  CHECK(fdes->front().location == code_start);  // rebased to the executable address

  const auto& debug = records[3];
  REQUIRE(debug.id == 2);
  CHECK(debug.code_address == code_start);
  REQUIRE(debug.lines.size() == 2);  // source offset 0 has no line
  CHECK(debug.lines[0].address == code_start + 1);
  CHECK(debug.lines[0].line == 12);
  CHECK(debug.lines[0].file == "script.js");
  CHECK(debug.lines[1].address == code_start + 5);
  CHECK(debug.lines[1].line == 13);
  CHECK(debug.total_size % 8 == 0);

  const auto& load = records[4];
  REQUIRE(load.id == 0);
  CHECK(load.name == "traced");
  CHECK(load.pid == h.pid);
  CHECK(load.vma == load.code_address);
  CHECK(load.code_address == code_start);
  CHECK(code_executable);
  CHECK(load.code_size == example::return_constant::size);
  const example::return_constant expected{40};
  CHECK(std::equal(load.code.begin(), load.code.end(), expected.bytes.begin(), expected.bytes.end()));
  CHECK(load.code_index > records[1].code_index);

  const auto& move = records[5];
  REQUIRE(move.id == 1);
  CHECK(move.old_address == 0x1000);
  CHECK(move.code_size == example::return_constant::size);
  CHECK(records[6].id == 3);  // CODE_CLOSE, from the destructor
}

namespace {

struct elf_symbols {
  std::map<std::string, std::uintptr_t> address_of;
  std::size_t count = 0;  // symbols in the image (names may repeat)
  std::uint16_t machine = 0;
};

/// The functions an in-memory ELF image of gdb_jit names, at their addresses.
elf_symbols read_elf_symbols(const jit_code_entry& entry) {
  const auto* image = reinterpret_cast<const std::byte*>(entry.symfile_addr);
  const auto at = [&](std::size_t offset, auto value) {
    std::memcpy(&value, image + offset, sizeof value);
    return value;
  };
  elf_symbols symbols;
  REQUIRE(std::memcmp(image,
                      "\x7f"
                      "ELF",
                      4) == 0);
  symbols.machine = at(18, std::uint16_t{});
  const auto sections = at(40, std::uint64_t{});
  const auto section = [&](std::size_t i, std::size_t field, auto value) {
    return at(sections + i * 64 + field, value);
  };
  const std::uint64_t text_address = section(1, 16, std::uint64_t{});
  const std::uint64_t symtab = section(2, 24, std::uint64_t{}), symtab_size = section(2, 32, std::uint64_t{});
  const std::uint64_t strtab = section(3, 24, std::uint64_t{});
  for (std::uint64_t s = 24; s < symtab_size; s += 24) {
    const std::string name{reinterpret_cast<const char*>(image + strtab + at(symtab + s, std::uint32_t{}))};
    symbols.address_of[name] = text_address + at(symtab + s + 8, std::uint64_t{});
    ++symbols.count;
  }
  return symbols;
}

std::vector<const jit_code_entry*> descriptor_entries() {
  std::vector<const jit_code_entry*> entries;
  for (const jit_code_entry* e = __jit_debug_descriptor.first_entry; e != nullptr; e = e->next_entry)
    entries.push_back(e);
  return entries;
}

}  // namespace

TEMPLATE_TEST_CASE("gdb_jit registers one ELF image per batch and unregisters freed code", "[gdb]", jitcm::code_manager,
                   dual_mapped_manager) {
  REQUIRE(descriptor_entries().empty());
  jitcm::observe::gdb_jit gdb;
  module_fixture<TestType> fixture;
  fixture.manager.add_observer(gdb);
  fixture.create(3);
  CHECK(gdb.entries() == 1);  // the jump table's slots, at once
  CHECK(__jit_debug_descriptor.action_flag == 1);

  // One add_code call: one entry for both functions.
  const example::return_constant a{1}, b{2};
  const jitcm::finished_code batch[] = {
      {a.bytes, {.index = 0, .tier = jitcm::tiering::two_tier::baseline, .name = "batch_a"}},
      {b.bytes, {.index = 1, .tier = jitcm::tiering::two_tier::baseline, .name = "batch_b"}}};
  std::vector<const jitcm::code*> added;  // valid while installed, then until collect
  {
    jitcm::refcount::code_ref_scope scope;
    auto published = fixture.module->add_code(batch);
    REQUIRE(published);
    for (const jitcm::published_code& each : *published) added.push_back(each.code);
  }
  CHECK(gdb.entries() == 2);
  const elf_symbols newest = read_elf_symbols(*__jit_debug_descriptor.first_entry);
  CHECK(newest.machine == jitcm::observe::detail::elf_host_machine);
  CHECK(newest.address_of.size() == 2);
  CHECK(newest.address_of.at("batch_a") == added[0]->instruction_start());
  CHECK(newest.address_of.at("batch_b") == added[1]->instruction_start());
  CHECK(executable_address(newest.address_of.at("batch_a")));
  const elf_symbols slots = read_elf_symbols(*descriptor_entries().back());
  CHECK(slots.address_of.at("jitcm::jump_slot[2]") == *fixture.module->call_target(2));

  // Freeing one function drops its name at the next batch; the entry stays.
  REQUIRE(fixture.module->remove(added[0]));
  (void)fixture.module->collect({});
  fixture.publish(2, "later");
  CHECK(gdb.entries() == 3);
  bool found_b_alone = false;
  for (const jit_code_entry* e : descriptor_entries()) {
    const elf_symbols symbols = read_elf_symbols(*e);
    CHECK(symbols.address_of.count("batch_a") == 0);
    if (symbols.address_of.count("batch_b") == 1 && symbols.address_of.size() == 1) found_b_alone = true;
  }
  CHECK(found_b_alone);

  fixture.module.reset();
  CHECK(gdb.entries() == 0);
  CHECK(descriptor_entries().empty());
  CHECK(__jit_debug_descriptor.action_flag == 2);
  fixture.manager.remove_observer(gdb);
}

TEMPLATE_TEST_CASE("symbolizer attributes a pc to its function, jump slot or lazy slot", "[symbolizer]",
                   jitcm::code_manager, dual_mapped_manager) {
  jitcm::observe::symbolizer symbols;
  module_fixture<TestType> fixture;
  fixture.manager.add_observer(symbols);
  fixture.create(2);
  CHECK(symbols.slot_count() == 4);
  const jitcm::code* c = fixture.publish(0, "sampled");

  const auto in_code = symbols.symbolize(fixture.manager, c->instruction_start() + 3);
  REQUIRE(in_code);
  CHECK(in_code->name == "sampled");
  CHECK(in_code->offset == 3);
  const auto in_slot = symbols.symbolize(fixture.manager, *fixture.module->call_target(1));
  REQUIRE(in_slot);
  CHECK(in_slot->name == "jitcm::jump_slot[1]");
  CHECK(in_slot->offset == 0);
  // Function 1 has no code: its slot leads to its lazy slot, which is named too.
  bool lazy_found = false;
  for (std::uintptr_t pc = in_slot->start; pc < in_slot->start + 256 && !lazy_found; ++pc) {
    const auto s = symbols.symbolize(fixture.manager, pc);
    lazy_found = s && s->name == "jitcm::lazy_slot[1]";
  }
  CHECK(lazy_found);
  CHECK(!symbols.symbolize(fixture.manager, 0));

  fixture.module.reset();
  CHECK(symbols.slot_count() == 0);
  fixture.manager.remove_observer(symbols);
}

TEST_CASE("observers keep count while threads publish into their own modules at once", "[threads]") {
  scratch_directory directory;
  auto map = jitcm::observe::perf_map::open(directory.path + "/perf-threads.map");
  auto dump = jitcm::observe::jitdump::open({.directory = directory.path});
  REQUIRE(map);
  REQUIRE(dump);
  jitcm::observe::gdb_jit gdb;
  jitcm::observe::unwind_registry registry;
  jitcm::code_manager manager;
  for (jitcm::code_observer* o :
       std::initializer_list<jitcm::code_observer*>{map->get(), dump->get(), &gdb, &registry}) {
    manager.add_observer(*o);
  }
  constexpr std::uint32_t threads = 4, functions = 25;
  std::vector<jitcm::code_manager::module_ptr> modules;
  for (std::uint32_t t = 0; t < threads; ++t) {
    auto created = manager.new_module({.functions = functions, .lazy_entry = jitcm::testing::lazy_entry()});
    REQUIRE(created);
    modules.push_back(std::move(*created));
  }
  auto unwind = jitcm::observe::eh_frame::build(jitcm::observe::eh_frame::host,
                                                jitcm::observe::eh_frame::leaf(example::return_constant::size));
  REQUIRE(unwind);
  std::atomic<std::uint32_t> published{0};
  std::vector<std::thread> workers;
  for (std::uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < functions; ++i) {
        const example::return_constant bytes{i};
        if (jitcm::testing::publish_bytes(*modules[t], bytes.bytes, {.index = i, .unwind_info = *unwind}) != nullptr) {
          published.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  CHECK(published.load() == threads * functions);
  CHECK(registry.registered() == threads * functions);
  // One entry per jump table and at most one per publish: publishes that
  // overlap in time may end up in one entry. Every name is there once.
  CHECK(gdb.entries() > threads);
  CHECK(gdb.entries() <= threads + threads * functions);
  std::size_t symbols = 0;
  for (const jit_code_entry* e : descriptor_entries()) symbols += read_elf_symbols(*e).count;
  CHECK(symbols == threads * functions * 3);  // each function, its jump slot and its lazy slot
  REQUIRE((*map)->flush());
  CHECK(lines_of(directory.path + "/perf-threads.map").size() ==
        threads * functions * 3);  // code, jump slot, lazy slot
  modules.clear();
  CHECK(registry.registered() == 0);
  CHECK(gdb.entries() == 0);
  for (jitcm::code_observer* o :
       std::initializer_list<jitcm::code_observer*>{map->get(), dump->get(), &gdb, &registry}) {
    manager.remove_observer(*o);
  }
}
