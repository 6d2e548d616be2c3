// Definitions of <jitcm/observe/detail/elf_image.hpp> (see observe/impl/environment.ipp).
#pragma once

#include <algorithm>
#include <string_view>

#include "../byte_buffer.hpp"
#include "../elf_image.hpp"

namespace jitcm::observe::detail {

JITCM_DECL std::vector<std::byte> build_elf_image(std::span<const elf_symbol> symbols) {
  constexpr std::size_t header_size = 64, section_header_size = 64, symbol_size = 24;
  constexpr std::uint16_t section_count = 5;
  std::uintptr_t low = symbols.front().instructions.begin();
  std::uintptr_t high = symbols.front().instructions.end();
  for (const elf_symbol& s : symbols) {
    low = std::min(low, s.instructions.begin());
    high = std::max(high, s.instructions.end());
  }

  byte_buffer strtab;
  strtab.put(std::uint8_t{0});
  byte_buffer symtab;
  for (std::size_t i = 0; i < symbol_size; ++i) symtab.put(std::uint8_t{0});  // the null symbol
  for (const elf_symbol& s : symbols) {
    symtab.put(static_cast<std::uint32_t>(strtab.size()));  // st_name
    symtab.put(std::uint8_t{0x12});                         // st_info: STB_GLOBAL, STT_FUNC
    symtab.put(std::uint8_t{0});                            // st_other: default visibility
    symtab.put(std::uint16_t{1});                           // st_shndx: .text
    symtab.put(std::uint64_t{s.instructions.begin() - low});
    symtab.put(std::uint64_t{s.instructions.size()});
    strtab.put_string(s.name);
  }
  constexpr std::string_view section_names{"\0.text\0.symtab\0.strtab\0.shstrtab\0", 33};
  constexpr std::uint32_t text_name = 1, symtab_name = 7, strtab_name = 15, shstrtab_name = 23;

  const std::size_t symtab_at = header_size;
  const std::size_t strtab_at = symtab_at + symtab.size();
  const std::size_t shstrtab_at = strtab_at + strtab.size();
  const std::size_t sections_at = (shstrtab_at + section_names.size() + 7) & ~std::size_t{7};

  byte_buffer out;
  const unsigned char ident[16] = {0x7f, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*little-endian*/, 1 /*version*/};
  for (unsigned char b : ident) out.put(b);
  out.put(std::uint16_t{1});  // e_type: ET_REL
  out.put(elf_host_machine);
  out.put(std::uint32_t{1});  // e_version
  out.put(std::uint64_t{0});  // e_entry
  out.put(std::uint64_t{0});  // e_phoff
  out.put(std::uint64_t{sections_at});
  out.put(std::uint32_t{0});  // e_flags
  out.put(static_cast<std::uint16_t>(header_size));
  out.put(std::uint16_t{0});  // e_phentsize
  out.put(std::uint16_t{0});  // e_phnum
  out.put(static_cast<std::uint16_t>(section_header_size));
  out.put(section_count);
  out.put(std::uint16_t{4});  // e_shstrndx
  out.put_bytes(symtab.bytes());
  out.put_bytes(strtab.bytes());
  out.put_bytes(std::as_bytes(std::span{section_names.data(), section_names.size()}));
  out.pad_to(8);

  const auto section = [&](std::uint32_t name, std::uint32_t type, std::uint64_t flags, std::uint64_t address,
                           std::uint64_t offset, std::uint64_t size, std::uint32_t link, std::uint32_t info,
                           std::uint64_t align, std::uint64_t entry_size) {
    out.put(name);
    out.put(type);
    out.put(flags);
    out.put(address);
    out.put(offset);
    out.put(size);
    out.put(link);
    out.put(info);
    out.put(align);
    out.put(entry_size);
  };
  section(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  section(text_name, 8 /*SHT_NOBITS*/, 0x6 /*ALLOC|EXECINSTR*/, low, header_size, high - low, 0, 0, 16, 0);
  section(symtab_name, 2 /*SHT_SYMTAB*/, 0, 0, symtab_at, symtab.size(), 3, 1 /*first global*/, 8, symbol_size);
  section(strtab_name, 3 /*SHT_STRTAB*/, 0, 0, strtab_at, strtab.size(), 0, 0, 1, 0);
  section(shstrtab_name, 3, 0, 0, shstrtab_at, section_names.size(), 0, 0, 1, 0);
  return std::move(out.storage());
}

}  // namespace jitcm::observe::detail
