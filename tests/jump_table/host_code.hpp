// Test helpers: tiny functions in host machine code, and a code space with a
// jump table, thunks near the table and thunks beyond near range, under any
// W^X strategy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <jitcm/jump_table/host.hpp>
#include <jitcm/platform/virtual_memory.hpp>
#include <jitcm/protection/strategy.hpp>

namespace jitcm::testing {

namespace jt = jitcm::jump_table;

/// `int f() { return value; }` (value < 2048), with the landing pad an
/// indirect branch needs when the build enables one.
struct return_constant {
  static constexpr std::size_t size = 16;
  std::uint8_t bytes[size] = {};

  explicit return_constant(std::uint32_t value) noexcept {
    std::size_t at = 0;
    auto put32 = [&](std::uint32_t word) {
      std::memcpy(bytes + at, &word, 4);
      at += 4;
    };
#if defined(JITCM_ARCH_X64)
    std::memset(bytes, 0xCC, size);
    if constexpr (jt::x64_landing_pads) put32(0xFA1E0FF3);  // endbr64
    bytes[at++] = 0xB8;                                     // mov $value, %eax
    put32(value);
    bytes[at] = 0xC3;  // ret
#elif defined(JITCM_ARCH_ARM64)
    if constexpr (jt::arm64_landing_pads) put32(0xD503245F);  // bti c
    put32(0x52800000u | ((value & 0xFFFFu) << 5));            // movz w0, #value
    put32(0xD65F03C0u);                                       // ret
#elif defined(JITCM_ARCH_RISCV64)
    put32(((value & 0xFFFu) << 20) | (10u << 7) | 0x13u);  // addi a0, zero, value
    put32(0x00008067u);                                    // ret
#endif
    (void)at;
  }
};

using int_function = int (*)();

inline int call(std::uintptr_t address) { return reinterpret_cast<int_function>(address)(); }

/// One code space: the jump table's code and data areas, a page of thunks in
/// near range of every slot, and a page of thunks beyond it.
///   [table code][table data][near thunks] ... gap ... [far thunks]
template <class Strategy, class Emitter = jt::host>
class table_space {
 public:
  static jitcm::result<table_space> create(std::uint32_t functions) {
    const std::size_t page = jitcm::platform::page_size();
    const auto pages = [page](std::size_t bytes) { return (bytes + page - 1) / page * page; };
    const std::size_t code = pages(Emitter::code_bytes(functions));
    const std::size_t data = pages(Emitter::data_bytes(functions));
    const std::size_t thunks = pages(2 * functions * return_constant::size);
    const std::size_t far_offset = pages(code + data + thunks + Emitter::near_range) + page;
    auto space = Strategy::reserve(far_offset + thunks);
    if (!space) return jitcm::forward_error(space);
    const std::uintptr_t base = space->region().begin();
    table_space result{std::move(*space), functions};
    result.code_ = {base, code};
    result.data_ = {base + code, data};
    result.near_thunks_ = {base + code + data, thunks};
    result.far_thunks_ = {base + far_offset, thunks};
    for (auto region : {result.code_, result.near_thunks_, result.far_thunks_}) {
      if (auto ok = result.space_.commit(region); !ok) return jitcm::forward_error(ok);
    }
    if (auto ok = result.space_.commit_data(result.data_); !ok) return jitcm::forward_error(ok);
    result.view_ = {result.code_.begin(), result.space_.writable(result.code_.begin()), result.data_.begin(),
                    result.space_.writable(result.data_.begin()), functions};
    return result;
  }

  /// Writes the table (lazy slots to `lazy_entry`) and the thunks: near
  /// thunk 2i returns 3i, near thunk 2i+1 returns 3i+2, far thunk i returns 3i+1.
  jitcm::result<void> initialize(std::uintptr_t lazy_entry, jt::routing route = jt::routing::near) {
    {
      auto scope = space_.begin_write(code_);
      if (!scope) return jitcm::forward_error(scope);
      if (auto ok = Emitter::initialize(view_, lazy_entry, route); !ok) return ok;
      if (auto ok = scope->end(); !ok) return ok;
    }
    for (std::uint32_t i = 0; i < functions_; ++i) {
      if (auto ok = write_thunk(near_thunk(i, 0), 3 * i); !ok) return ok;
      if (auto ok = write_thunk(near_thunk(i, 1), 3 * i + 2); !ok) return ok;
      if (auto ok = write_thunk(far_thunk(i), 3 * i + 1); !ok) return ok;
    }
    return {};
  }

  [[nodiscard]] std::uintptr_t near_thunk(std::uint32_t i, int which) const {
    return near_thunks_.begin() + (2 * i + static_cast<std::uint32_t>(which)) * return_constant::size;
  }
  [[nodiscard]] std::uintptr_t far_thunk(std::uint32_t i) const {
    return far_thunks_.begin() + i * return_constant::size;
  }

  jitcm::result<void> patch(std::uint32_t i, std::uintptr_t target) {
    return Emitter::patch(view_, i, target, jt::write_scopes_of(space_));
  }

  [[nodiscard]] const jt::table_view& view() const { return view_; }
  [[nodiscard]] typename Strategy::space& space() { return space_; }
  [[nodiscard]] jitcm::address_region code() const { return code_; }
  [[nodiscard]] std::uintptr_t call_target(std::uint32_t i) const { return Emitter::call_target(view_, i); }

 private:
  table_space(typename Strategy::space space, std::uint32_t functions)
      : space_{std::move(space)}, functions_{functions} {}

  jitcm::result<void> write_thunk(std::uintptr_t at, std::uint32_t value) {
    auto scope = space_.begin_write({at, return_constant::size});
    if (!scope) return jitcm::forward_error(scope);
    const return_constant code{value};
    std::memcpy(reinterpret_cast<void*>(space_.writable(at)), code.bytes, return_constant::size);
    return scope->end();
  }

  typename Strategy::space space_;
  std::uint32_t functions_ = 0;
  jitcm::address_region code_, data_, near_thunks_, far_thunks_;
  jt::table_view view_;
};

}  // namespace jitcm::testing
