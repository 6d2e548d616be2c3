// The system disassembler reads emitted tables back as the intended
// instructions, with the branch and literal targets the table meant.
// Runs objdump (found when Meson configured) on a table written to a file.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <jitcm/jump_table/host.hpp>

#include "catch.hpp"

namespace jt = jitcm::jump_table;

namespace {

std::string hex(std::uintptr_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

/// Disassembly of `bytes` placed at `address`: instruction text by address,
/// whitespace collapsed to single spaces. Empty when objdump could not run.
std::map<std::uintptr_t, std::string> disassemble(const char* objdump, const char* machine, std::uintptr_t address,
                                                  const void* bytes, std::size_t size) {
  std::map<std::uintptr_t, std::string> lines;
  char path[] = "/tmp/jitcm-jump-table-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return lines;
  const bool written = write(fd, bytes, size) == static_cast<ssize_t>(size);
  close(fd);
  const std::string command = std::string{objdump} + " -D -b binary -m " + machine + " --adjust-vma=" + hex(address) +
                              " " + path + " 2>/dev/null";
  FILE* pipe = written ? popen(command.c_str(), "r") : nullptr;
  if (pipe != nullptr) {
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
      char* end = nullptr;
      const unsigned long long at = std::strtoull(buffer, &end, 16);
      if (end == buffer || *end != ':') continue;
      std::string text;
      for (const char* c = end + 1; *c != '\0' && *c != '\n'; ++c) {
        const bool space = *c == ' ' || *c == '\t';
        if (space && (text.empty() || text.back() == ' ')) continue;
        text += space ? ' ' : *c;
      }
      lines[static_cast<std::uintptr_t>(at)] = text;
    }
    pclose(pipe);
  }
  unlink(path);
  return lines;
}

/// A two-function table in ordinary memory; slot 1 patched to a target
/// beyond near range, so its near slot branches to its far slot.
template <class Emitter>
struct dumped_table {
  std::vector<std::uint64_t> storage = std::vector<std::uint64_t>(64);
  jt::table_view view;
  std::uintptr_t far_target = 0;

  dumped_table() {
    const auto base = reinterpret_cast<std::uintptr_t>(storage.data());
    const std::uintptr_t data = base + ((Emitter::code_bytes(2) + 7) & ~std::uintptr_t{7});
    view = {base, base, data, data, 2};
    REQUIRE(Emitter::initialize(view, 0x700000001000));
    far_target = (base + Emitter::near_range + 0x100000) & ~std::uintptr_t{15};
    REQUIRE(Emitter::patch(view, 1, far_target, jt::already_writable{}));
  }
  std::uintptr_t near(std::uint32_t i) const { return view.code_base + Emitter::near_slot_offset(i); }
  std::uintptr_t far(std::uint32_t i) const { return view.code_base + Emitter::far_slot_offset(i); }
  std::uintptr_t lazy(std::uint32_t i) const { return view.code_base + Emitter::lazy_slot_offset(i); }
  std::uintptr_t cell(std::uint32_t i) const { return view.data_base + Emitter::far_target_offset(i); }
  std::uintptr_t entry_cell() const { return view.data_base + Emitter::lazy_entry_offset; }
};

struct expectation {
  std::uintptr_t address;
  std::string text;
};

void check_disassembly(const std::map<std::uintptr_t, std::string>& lines, const std::vector<expectation>& expected) {
  if (lines.empty()) {
    WARN("objdump did not run: disassembly not checked");
    return;
  }
  for (const expectation& e : expected) {
    INFO("at " << hex(e.address) << " expected '" << e.text << "'");
    const auto line = lines.find(e.address);
    REQUIRE(line != lines.end());
    INFO("objdump: " << line->second);
    CHECK(line->second.find(e.text) != std::string::npos);
  }
}

template <class Emitter>
void check_table(const char* objdump, const char* machine, std::size_t pad, const char* pad_text,
                 auto&& expectations_for) {
  INFO(Emitter::name);
  const dumped_table<Emitter> table;
  auto lines = disassemble(objdump, machine, table.view.code_base, table.storage.data(), Emitter::code_bytes(2));
  std::vector<expectation> expected = expectations_for(table, pad);
  if (pad != 0) {
    expected.push_back({table.near(0), pad_text});
    expected.push_back({table.lazy(1), pad_text});
  }
  check_disassembly(lines, expected);
}

}  // namespace

TEST_CASE("objdump reads x64 tables as intended", "[jump_table][disassembly]") {
#if defined(JITCM_TEST_OBJDUMP_X64)
  const auto expectations = [](const auto& t, std::size_t pad) {
    return std::vector<expectation>{
        {t.near(0) + pad, "jmp " + hex(t.lazy(0))},
        {t.near(1) + pad, "jmp " + hex(t.far(1))},
        {t.far(0), "jmp *"},
        {t.far(0), "(%rip) # " + hex(t.cell(0))},
        {t.lazy(1) + pad / 2, "mov $0x1,%r10d"},
        {t.lazy(1) + pad / 2 + 6, "(%rip) # " + hex(t.entry_cell())},
    };
  };
  check_table<jt::basic_x64<false>>(JITCM_TEST_OBJDUMP_X64, "i386:x86-64", 0, "", expectations);
  check_table<jt::basic_x64<true>>(JITCM_TEST_OBJDUMP_X64, "i386:x86-64", 8, "endbr64", expectations);
#else
  WARN("no x86-64 objdump on the build machine");
#endif
}

TEST_CASE("objdump reads arm64 tables as intended", "[jump_table][disassembly]") {
#if defined(JITCM_TEST_OBJDUMP_ARM64)
  const auto expectations = [](const auto& t, std::size_t pad) {
    return std::vector<expectation>{
        {t.near(0) + pad, "b " + hex(t.lazy(0))},
        {t.near(1) + pad, "b " + hex(t.far(1))},
        {t.far(0), "ldr x16, " + hex(t.cell(0))},
        {t.far(0) + 4, "br x16"},
        {t.lazy(1) + pad, "mov w17, #0x1"},
        {t.lazy(1) + pad + 4, "movk w17, #0x0, lsl #16"},
        {t.lazy(1) + pad + 8, "ldr x16, " + hex(t.entry_cell())},
    };
  };
  check_table<jt::basic_arm64<false>>(JITCM_TEST_OBJDUMP_ARM64, "aarch64", 0, "", expectations);
  check_table<jt::basic_arm64<true>>(JITCM_TEST_OBJDUMP_ARM64, "aarch64", 4, "bti c", expectations);
#else
  WARN("no AArch64 objdump on the build machine");
#endif
}

TEST_CASE("objdump reads riscv64 tables as intended", "[jump_table][disassembly]") {
#if defined(JITCM_TEST_OBJDUMP_RISCV64)
  const auto expectations = [](const auto& t, std::size_t) {
    return std::vector<expectation>{
        {t.near(0), "j " + hex(t.lazy(0))},
        {t.near(1), "j " + hex(t.far(1))},
        {t.far(0), "auipc t1,"},
        {t.far(0) + 4, "# " + hex(t.cell(0))},
        {t.far(0) + 8, "jr t1"},
        {t.lazy(1), "lui t0,0x0"},
        {t.lazy(1) + 4, "t0,t0,1"},
        {t.lazy(1) + 12, "# " + hex(t.entry_cell())},
        {t.lazy(1) + 16, "jr t1"},
    };
  };
  check_table<jt::riscv64>(JITCM_TEST_OBJDUMP_RISCV64, "riscv:rv64", 0, "", expectations);
#else
  WARN("no RISC-V objdump on the build machine");
#endif
}
