// Bounds checks by guard region: an array access compiled without a bounds
// check, memory placed so that every out-of-bounds index lands on
// inaccessible pages, and the trap handler turning the fault into an error
// the caller sees.
//
// This is what WebAssembly engines do for 32-bit memories: V8, Wasmtime and
// SpiderMonkey reserve 8 GiB of address space per memory (4 GiB of index plus
// 4 GiB of constant offset), commit only the memory's current size, and
// compile each load and store as a plain machine instruction listed as
// "protected". A fault there means the program went out of bounds: the
// engine's landing pad raises a WebAssembly trap (RuntimeError: memory
// access out of bounds) instead of crashing the process.
//
// Here the index is 16 bits wide, so the reservation is 64 Ki elements: a
// quarter of a megabyte, of which only the first page is committed.
#include <array>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <utility>

#include <jitcm/jitcm.hpp>
#include <jitcm/trap_handler.hpp>

namespace {

// The default manager's lookup (lookup::segment_map) is async-signal-safe, so
// the trap handler may search it.
using manager_type = jitcm::code_manager;

/// What the landing pad returns: no zero-extended 32-bit load produces it.
constexpr std::int64_t out_of_bounds = -1;

/// Machine code a JIT would have assembled.
struct machine_code {
  std::byte bytes[16] = {};
  std::size_t size = 0;
  std::uint32_t protected_offset = 0;  ///< the memory access, for the trap handler

  void put(std::span<const std::uint8_t> raw) {
    std::memcpy(bytes + size, raw.data(), raw.size());
    size += raw.size();
  }
  void put32(std::uint32_t word) {
    std::memcpy(bytes + size, &word, 4);
    size += 4;
  }
};

/// `std::int64_t element(const std::uint32_t* memory, std::uint64_t index)`:
/// `return memory[index];`, zero-extended, and no bounds check: the load is
/// the protected instruction.
machine_code unchecked_element_load() {
  machine_code code;
#if defined(JITCM_ARCH_X64)
  if constexpr (jitcm::jump_table::x64_landing_pads) code.put32(0xFA1E0FF3);  // endbr64
  code.protected_offset = static_cast<std::uint32_t>(code.size);
  code.put(std::array<std::uint8_t, 4>{0x8B, 0x04, 0xB7, 0xC3});  // mov (%rdi,%rsi,4), %eax; ret
#elif defined(JITCM_ARCH_ARM64)
  if constexpr (jitcm::jump_table::arm64_landing_pads) code.put32(0xD503245F);  // bti c
  code.protected_offset = static_cast<std::uint32_t>(code.size);
  code.put32(0xB8617800);  // ldr w0, [x0, x1, lsl #2]
  code.put32(0xD65F03C0);  // ret
#elif defined(JITCM_ARCH_RISCV64)
  code.put32(0x00259593);  // slli a1, a1, 2
  code.put32(0x00B50533);  // add a0, a0, a1
  code.protected_offset = static_cast<std::uint32_t>(code.size);
  code.put32(0x00056503);  // lwu a0, 0(a0)
  code.put32(0x00008067);  // ret
#endif
  return code;
}

/// The landing pad: `return out_of_bounds;` to the caller of the function
/// that faulted (a leaf: its return address is where it was). A
/// WebAssembly engine would instead call into its runtime here, which
/// unwinds the WebAssembly frames and raises the trap in the embedder.
machine_code return_out_of_bounds() {
  machine_code code;
#if defined(JITCM_ARCH_X64)
  code.put(std::array<std::uint8_t, 8>{0x48, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xC3});  // mov $-1, %rax; ret
#elif defined(JITCM_ARCH_ARM64)
  code.put32(0x92800000);  // movn x0, #0
  code.put32(0xD65F03C0);  // ret
#elif defined(JITCM_ARCH_RISCV64)
  code.put32(0xFFF00513);  // addi a0, zero, -1
  code.put32(0x00008067);  // ret
#endif
  return code;
}

const jitcm::code* publish(manager_type::module& module, const machine_code& code,
                           std::span<const std::uint32_t> protected_offsets) {
  auto room = module.allocate(code.size);
  if (!room) return nullptr;
  std::memcpy(room->writable(), code.bytes, code.size);
  jitcm::code_desc desc;
  desc.kind = jitcm::code_kind::wrapper;
  desc.protected_instructions = protected_offsets;
  auto published = module.publish(*room, desc);
  return published ? published->code : nullptr;  // held by the caller's scope
}

/// A 32-bit memory of 64 Ki elements, of which the first `committed_bytes`
/// are accessible: every 16-bit index lands inside the reservation.
class linear_memory {
 public:
  static constexpr std::size_t elements = std::size_t{1} << 16;

  static jitcm::result<linear_memory> create(std::size_t committed_bytes) {
    auto reserved = jitcm::platform::reserve(elements * sizeof(std::uint32_t));
    if (!reserved) return jitcm::forward_error(reserved);
    linear_memory memory{*reserved, committed_bytes};
    if (auto ok = jitcm::platform::commit({reserved->begin(), committed_bytes}, jitcm::platform::access::read_write);
        !ok) {
      return jitcm::forward_error(ok);
    }
    return memory;
  }
  linear_memory(linear_memory&& other) noexcept
      : region_{std::exchange(other.region_, {})}, committed_{other.committed_} {}
  linear_memory& operator=(linear_memory&&) = delete;
  ~linear_memory() {
    if (!region_.empty()) (void)jitcm::platform::unmap(region_);
  }

  [[nodiscard]] std::uint32_t* data() const { return region_.pointer<std::uint32_t>(); }
  [[nodiscard]] std::size_t size() const { return committed_ / sizeof(std::uint32_t); }

 private:
  linear_memory(jitcm::address_region region, std::size_t committed) : region_{region}, committed_{committed} {}
  jitcm::address_region region_;
  std::size_t committed_;
};

using element_function = std::int64_t (*)(const std::uint32_t*, std::uint64_t);

/// The engine's side of a call: run the compiled access, and turn a trap
/// into an error the caller sees.
jitcm::result<std::uint32_t> element(element_function compiled, const linear_memory& memory, std::uint16_t index) {
  jitcm::trap::thread_in_jit_code_guard in_jit_code;
  const std::int64_t value = compiled(memory.data(), index);
  if (value == out_of_bounds) return jitcm::failure{jitcm::errc::out_of_range};
  return static_cast<std::uint32_t>(value);
}

int run() {
  // 1. The handler, claiming faults only while a thread is inside JIT code.
  if (!jitcm::trap::install({.require_thread_in_jit_code = true})) return 1;

  // 2. The compiled access and its landing pad, published; the manager
  //    attached, with the pad.
  manager_type manager;
  auto module = manager.new_module({});
  if (!module) return 1;
  manager_type::code_ref_scope scope;  // holds the code pointers publish returns
  const machine_code load = unchecked_element_load();
  const std::uint32_t protected_offsets[] = {load.protected_offset};
  const jitcm::code* compiled = publish(**module, load, protected_offsets);
  const jitcm::code* pad = publish(**module, return_out_of_bounds(), {});
  if (compiled == nullptr || pad == nullptr) return 1;
  auto registration = jitcm::trap::attach(manager, pad->instruction_start());
  if (!registration) return 1;

  // 3. One committed page of memory, filled with i * i.
  auto memory = linear_memory::create(jitcm::platform::page_size());
  if (!memory) return 1;
  for (std::size_t i = 0; i < memory->size(); ++i) memory->data()[i] = static_cast<std::uint32_t>(i * i);

  const auto function = reinterpret_cast<element_function>(compiled->instruction_start());
  const std::uint16_t in_bounds = 30;
  const auto beyond = static_cast<std::uint16_t>(memory->size() + 1000);
  auto inside = element(function, *memory, in_bounds);
  auto outside = element(function, *memory, beyond);

  std::printf("memory[%u] = %" PRIu32 "\n", unsigned{in_bounds}, inside ? *inside : 0);
  std::printf("memory[%u]: %s (fault at %#" PRIxPTR ", %zu bytes past the memory)\n", unsigned{beyond},
              outside ? "no error?" : outside.error().message().c_str(), jitcm::trap::last_fault().address,
              static_cast<std::size_t>(jitcm::trap::last_fault().address -
                                       reinterpret_cast<std::uintptr_t>(memory->data() + memory->size())));

  registration->detach();
  if (!jitcm::trap::uninstall()) return 1;
  const bool as_expected =
      inside && *inside == 900u && !outside && outside.error() == jitcm::errc::out_of_range &&
      jitcm::trap::last_fault().address == reinterpret_cast<std::uintptr_t>(&memory->data()[beyond]);
  return as_expected ? 0 : 1;
}

}  // namespace

int main() { return run(); }
