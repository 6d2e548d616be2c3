// The Windows platform layer (VirtualAlloc, VirtualProtect, sections mapped
// twice, FlushInstructionCache, FlushProcessWriteBuffers), checked against
// what VirtualQuery reports and by running code. Runs under Wine in CI.
#include <jitcm/platform/dual_mapping.hpp>
#include <jitcm/platform/instruction_cache.hpp>
#include <jitcm/platform/reservation.hpp>
#include <jitcm/protection/probe.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "../faults/fault_injector.hpp"
#include "catch.hpp"
#include "child_process.hpp"

using namespace jitcm;
using jitcm::testing::fault_injector;
using fault = jitcm::platform::fault_point;
using view_api = jitcm::platform::detail::windows_view_api;

namespace {

MEMORY_BASIC_INFORMATION query(std::uintptr_t address) {
  MEMORY_BASIC_INFORMATION info{};
  REQUIRE(VirtualQuery(reinterpret_cast<void*>(address), &info, sizeof info) == sizeof info);
  return info;
}

bool write_faults(std::uintptr_t address) {
  return testing::died_of_fault(testing::run_in_child([address] { *reinterpret_cast<volatile char*>(address) = 1; }));
}

bool read_faults(std::uintptr_t address) {
  return testing::died_of_fault(testing::run_in_child([address] { (void)*reinterpret_cast<volatile char*>(address); }));
}

// mov eax, imm32; ret
void write_return_constant(std::uintptr_t at, std::uint32_t value) {
  unsigned char code[6] = {0xB8, 0, 0, 0, 0, 0xC3};
  std::memcpy(code + 1, &value, 4);
  std::memcpy(reinterpret_cast<void*>(at), code, sizeof code);
}

int call(std::uintptr_t code) { return reinterpret_cast<int (*)()>(code)(); }

}  // namespace

TEST_CASE("page size and allocation granularity come from GetSystemInfo", "[platform][windows]") {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  CHECK(platform::page_size() == info.dwPageSize);
  CHECK(platform::allocation_granularity() == info.dwAllocationGranularity);
  CHECK(platform::allocation_granularity() == 64 * 1024);
}

TEST_CASE("reservations start at the allocation granularity and honour alignment", "[platform][windows]") {
  const std::size_t granularity = platform::allocation_granularity();
  auto region = platform::reserve(platform::page_size() + 1);
  REQUIRE(region);
  CHECK(region->size() == granularity);
  CHECK(region->begin() % granularity == 0);
  const auto reserved = query(region->begin());
  CHECK(reserved.State == MEM_RESERVE);
  CHECK(reserved.RegionSize == granularity);
  REQUIRE(platform::unmap(*region));
  CHECK(query(region->begin()).State == MEM_FREE);

  const std::size_t alignment = std::size_t{1} << 22;
  for (int i = 0; i < 8; ++i) {
    auto aligned = platform::reserve(granularity, 0, alignment);
    REQUIRE(aligned);
    CHECK(aligned->begin() % alignment == 0);
    CHECK(query(aligned->begin()).State == MEM_RESERVE);
    REQUIRE(platform::unmap(*aligned));
  }
}

TEST_CASE("a dual mapping's executable view lands at the hint where it is free", "[platform][windows]") {
  auto probe = platform::reserve(std::size_t{1} << 20);
  REQUIRE(probe);
  const std::uintptr_t hint = probe->begin();
  REQUIRE(platform::unmap(*probe));
  auto dual = platform::dual_mapped_reservation::reserve(std::size_t{1} << 20, hint);
  REQUIRE(dual);
  CHECK(dual->executable().begin() == hint);
  // Taken now: the next one lands elsewhere.
  auto elsewhere = platform::dual_mapped_reservation::reserve(std::size_t{1} << 20, hint);
  REQUIRE(elsewhere);
  CHECK(!elsewhere->executable().contains(hint));
}

TEST_CASE("commit, protect, decommit and release change what the pages allow", "[platform][windows]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::reservation::reserve(4 * page);
  REQUIRE(memory);
  const std::uintptr_t base = memory->region().begin();
  const address_region first{base, page};
  CHECK(read_faults(base));

  REQUIRE(memory->commit(first, platform::access::read_write));
  CHECK(query(base).State == MEM_COMMIT);
  CHECK(query(base).Protect == PAGE_READWRITE);
  CHECK(query(base + page).State == MEM_RESERVE);
  CHECK(*reinterpret_cast<volatile char*>(base) == 0);
  CHECK_FALSE(write_faults(base));
  CHECK(*reinterpret_cast<volatile char*>(base) == 1);

  REQUIRE(memory->protect(first, platform::access::read));
  CHECK(query(base).Protect == PAGE_READONLY);
  CHECK(write_faults(base));
  CHECK(*reinterpret_cast<volatile char*>(base) == 1);

  REQUIRE(memory->protect(first, platform::access::read_write));
  write_return_constant(base, 42);
  REQUIRE(memory->protect(first, platform::access::read_execute));
  CHECK(query(base).Protect == PAGE_EXECUTE_READ);
  platform::flush_instruction_cache(base, 6);
  CHECK(call(base) == 42);

  REQUIRE(memory->decommit(first));
  CHECK(query(base).State == MEM_RESERVE);
  CHECK(read_faults(base));
  REQUIRE(memory->commit(first, platform::access::read_write));
  CHECK(*reinterpret_cast<volatile unsigned char*>(base) == 0);

  REQUIRE(memory->unmap());
  CHECK(query(base).State == MEM_FREE);
  CHECK(memory->unmap().error() == errc::already_unmapped);
}

TEST_CASE("bad arguments and exhausted address space come back as errors", "[platform][windows]") {
  const std::size_t page = platform::page_size();
  CHECK(platform::reserve(0).error() == errc::invalid_argument);
  CHECK(platform::reserve(std::numeric_limits<std::size_t>::max() - 1).error() == errc::size_overflow);
  CHECK(platform::reserve(page, 0, 3 * page).error() == errc::misaligned);
  CHECK(platform::reserve(std::size_t{1} << 62).error() == errc::address_space_exhausted);

  auto memory = platform::reservation::reserve(4 * page);
  REQUIRE(memory);
  const std::uintptr_t base = memory->region().begin();
  CHECK(memory->commit({base + 1, page}, platform::access::read_write).error() == errc::misaligned);
  CHECK(memory->commit({base, 0}, platform::access::read_write).error() == errc::invalid_argument);
  CHECK(memory->commit({base - page, 2 * page}, platform::access::read_write).error() == errc::out_of_range);
  // Windows refuses to change the protection of reserved pages: the OS's error.
  auto refused = memory->protect({base, page}, platform::access::read);
  REQUIRE(!refused);
  CHECK(refused.error().category() == std::system_category());
  CHECK(query(base).State == MEM_RESERVE);
}

TEST_CASE("the fault hook refuses Windows calls before they reach the OS", "[platform][windows][faults]") {
  const std::size_t page = platform::page_size();
  {
    fault_injector refuse{fault_injector::every_call, {fault::reserve}};
    CHECK(platform::reserve(page).error() == errc::address_space_exhausted);
  }
  auto memory = platform::reservation::reserve(page);
  REQUIRE(memory);
  {
    fault_injector refuse{fault_injector::every_call, {fault::commit}};
    CHECK(memory->commit(memory->region(), platform::access::read_write).error() ==
          platform::typical_error(fault::commit));
  }
  CHECK(query(memory->region().begin()).State == MEM_RESERVE);
}

TEST_CASE("code rewritten in place runs its new bytes after the flush", "[platform][windows]") {
  const std::size_t page = platform::page_size();
  auto memory = platform::reservation::reserve(page);
  REQUIRE(memory);
  const std::uintptr_t code = memory->region().begin();
  for (std::uint32_t value : {7u, 8u, 9u}) {
    REQUIRE(memory->commit(memory->region(), platform::access::read_write));
    write_return_constant(code, value);
    REQUIRE(memory->protect(memory->region(), platform::access::read_execute));
    platform::flush_instruction_cache(code, 6);
    CHECK(call(code) == static_cast<int>(value));
  }
}

TEST_CASE("FlushProcessWriteBuffers synchronises threads that keep running", "[platform][windows]") {
  constexpr int thread_count = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  std::atomic<long> spins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < thread_count; ++i) {
    threads.emplace_back([&] {
      running.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) spins.fetch_add(1, std::memory_order_relaxed);
    });
  }
  // Every thread is spinning before the first barrier, and must still be
  // spinning after the last: on a loaded machine a thread may not have been
  // scheduled at all while 100 barriers ran, which proved nothing.
  while (running.load() < thread_count) std::this_thread::yield();
  for (int i = 0; i < 100; ++i) REQUIRE(platform::synchronize_instruction_streams());
  const long after_barriers = spins.load();
  // The deadline only keeps a broken build from hanging; it asserts no speed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (spins.load() == after_barriers && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(spins.load() > after_barriers);
}

namespace {

void check_dual_mapping(view_api api) {
  const std::size_t page = platform::page_size();
  const std::size_t alignment = std::size_t{1} << 21;
  auto dual = platform::dual_mapped_reservation::reserve(4 * page, 0, alignment, api);
  REQUIRE(dual);
  const address_region executable = dual->executable();
  CHECK(executable.begin() % alignment == 0);
  CHECK(executable.size() == platform::allocation_granularity());
  CHECK(dual->writable().size() == executable.size());
  CHECK(dual->writable().begin() != executable.begin());
  CHECK(dual->write_offset() == dual->writable().begin() - executable.begin());
  CHECK(query(executable.begin()).Type == MEM_MAPPED);
  CHECK(query(dual->writable().begin()).Type == MEM_MAPPED);
  // Uncommitted pages of the section (Wine lets them be read nonetheless).
  CHECK(query(executable.begin()).AllocationBase == executable.pointer());
  CHECK(query(executable.begin()).State == MEM_RESERVE);
  CHECK(query(dual->writable().begin()).State == MEM_RESERVE);

  const address_region code{executable.begin(), page};
  REQUIRE(dual->commit(code));
  CHECK(query(code.begin()).Protect == PAGE_EXECUTE_READ);
  CHECK(query(code.begin() + dual->write_offset()).Protect == PAGE_READWRITE);
  write_return_constant(code.begin() + dual->write_offset(), 42);
  platform::flush_instruction_cache(code.begin(), 6);
  CHECK(call(code.begin()) == 42);
  CHECK(write_faults(code.begin()));
  // The writable view writes the code that runs, with no protection change.
  write_return_constant(code.begin() + dual->write_offset(), 43);
  platform::flush_instruction_cache(code.begin(), 6);
  CHECK(call(code.begin()) == 43);

  const address_region data{executable.begin() + page, page};
  REQUIRE(dual->commit(data, platform::access::read));
  CHECK(query(data.begin()).Protect == PAGE_READONLY);
  *reinterpret_cast<volatile int*>(data.begin() + dual->write_offset()) = 5;
  CHECK(*reinterpret_cast<volatile int*>(data.begin()) == 5);

  REQUIRE(dual->decommit(code));
  CHECK(read_faults(code.begin()));
  CHECK(read_faults(code.begin() + dual->write_offset()));
  REQUIRE(dual->commit(code));
  CHECK(*reinterpret_cast<volatile unsigned char*>(code.begin()) == 0);
  CHECK(*reinterpret_cast<volatile int*>(data.begin()) == 5);

  CHECK(dual->commit({code.begin() + 1, page}).error() == errc::misaligned);
  CHECK(dual->commit({executable.end(), page}).error() == errc::out_of_range);
  CHECK(dual->decommit({code.begin(), 0}).error() == errc::invalid_argument);

  REQUIRE(dual->unmap());
  CHECK(query(executable.begin()).State == MEM_FREE);
  CHECK(dual->unmap().error() == errc::already_unmapped);
  CHECK(dual->commit(code).error() == errc::already_unmapped);
}

}  // namespace

TEST_CASE("a section mapped twice runs what its writable view writes (MapViewOfFileEx)", "[platform][windows]") {
  check_dual_mapping(view_api::map_view_of_file_ex);
}

TEST_CASE("a section mapped twice runs what its writable view writes (best view API)", "[platform][windows]") {
  check_dual_mapping(view_api::best);
}

// Run alone by its own Meson test, which reports it skipped (exit 77) where
// the process has no MapViewOfFile3.
TEST_CASE("a section mapped twice runs what its writable view writes (MapViewOfFile3)", "[.][mapviewoffile3]") {
  if (platform::detail::map_view_of_file3() == nullptr) {
    std::printf("SKIPPED: kernelbase.dll has no MapViewOfFile3 (before Windows 10 1803)\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
  check_dual_mapping(view_api::map_view_of_file3);
}

TEST_CASE("a refused section or view comes back as the hook's error; a refused commit leaves both views as they were",
          "[platform][windows][faults]") {
  for (long k = 1; k <= 3; ++k) {
    fault_injector refuse{k, {fault::create_shared_memory, fault::map_shared_memory}};
    auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
    REQUIRE(!dual);
    CHECK(dual.error() == platform::typical_error(k == 1 ? fault::create_shared_memory : fault::map_shared_memory));
  }
  fault_injector refuse_second_commit{2, {fault::commit}};
  auto dual = platform::dual_mapped_reservation::reserve(platform::page_size());
  REQUIRE(dual);
  const address_region page{dual->executable().begin(), platform::page_size()};
  REQUIRE(!dual->commit(page));
  CHECK(read_faults(page.begin()));
}

TEST_CASE("the probe reports every strategy usable in this process", "[platform][windows]") {
  const protection::availability available = protection::probe();
  INFO("mprotect_toggle: " << available.mprotect_toggle.message());
  INFO("dual_mapping: " << available.dual_mapping.message());
  INFO("rwx: " << available.rwx.message());
  CHECK(!available.mprotect_toggle);
  CHECK(!available.dual_mapping);
  CHECK(!available.rwx);
}
