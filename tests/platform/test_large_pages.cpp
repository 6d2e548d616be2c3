// Large pages, opt-in: the probe says what the kernel will do, and code
// spaces asked for them are laid out in whole large pages.
#include <jitcm/allocator/all.hpp>
#include <jitcm/platform/dual_mapping.hpp>
#include <jitcm/platform/large_pages.hpp>
#include <jitcm/platform/reservation.hpp>
#include <jitcm/protection/mprotect_toggle.hpp>

#include <cstdio>
#include <cstring>
#include <string>

#include "catch.hpp"
#include "machine_code.hpp"  // examples/: one encoder for examples and tests

using namespace jitcm;

namespace {

/// Whether the system setting in `file` (its selected mode is bracketed)
/// lets MADV_HUGEPAGE regions have transparent huge pages.
bool thp_allowed(const char* file) {
  std::FILE* setting = std::fopen(file, "r");
  if (setting == nullptr) return false;
  char text[256] = {};
  const std::size_t read = std::fread(text, 1, sizeof text - 1, setting);
  std::fclose(setting);
  const std::string modes(text, read);
  const auto open = modes.find('['), close = modes.find(']');
  if (open == std::string::npos || close == std::string::npos) return false;
  const std::string selected = modes.substr(open + 1, close - open - 1);
  return selected != "never" && selected != "deny";
}

platform::page_backing expected_backing(bool shared) {
  const bool allowed = thp_allowed(shared ? "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
                                          : "/sys/kernel/mm/transparent_hugepage/enabled");
  return allowed && platform::large_page_size() != 0 ? platform::page_backing::transparent_huge
                                                     : platform::page_backing::normal;
}

}  // namespace

TEST_CASE("the large page size is a power of two above the page size, or none", "[platform][large_pages]") {
  const std::size_t size = platform::large_page_size();
  if (size != 0) {
    CHECK(platform::is_power_of_two(size));
    CHECK(size > platform::page_size());
  }
}

// qemu-user ignores madvise and reports no huge pages: cross builds leave
// out the cases tagged [madvise].
TEST_CASE("private memory advised for large pages is backed as the system setting says",
          "[platform][large_pages][madvise]") {
  const std::size_t large = platform::large_page_size();
  if (large == 0) {
    WARN("no transparent huge pages in this kernel: nothing to check");
    return;
  }
  auto memory = platform::reservation::reserve(2 * large, 0, large);
  REQUIRE(memory);
  const address_region whole = memory->region();
  auto backing = platform::advise_large_pages(whole);
  REQUIRE(backing);
  CHECK(*backing == expected_backing(false));

  REQUIRE(memory->commit(whole, platform::access::read_write));
  std::memset(whole.pointer(), 0x5a, whole.size());
  auto usage = platform::large_page_usage_of(whole);
  REQUIRE(usage);
  CHECK(usage->eligible == (*backing == platform::page_backing::transparent_huge ? whole.size() : 0));
  CHECK(usage->huge <= usage->eligible);  // the kernel may not find free 2 MiB blocks
  std::printf("large pages: %zu of %zu bytes on huge pages\n", usage->huge, whole.size());
}

#if defined(JITCM_HAS_DUAL_MAPPING)
TEST_CASE("shared memory advised for large pages is backed as the shmem setting says",
          "[platform][large_pages][madvise]") {
  const std::size_t large = platform::large_page_size();
  if (large == 0) {
    WARN("no transparent huge pages in this kernel: nothing to check");
    return;
  }
  auto memory = platform::dual_mapped_reservation::reserve(large, 0, large);
  REQUIRE(memory);
  auto backing = platform::advise_large_pages(memory->executable());
  REQUIRE(backing);
  CHECK(*backing == expected_backing(true));
}
#endif

TEST_CASE("the usage of memory outside any mapping is zero", "[platform][large_pages]") {
  auto memory = platform::reservation::reserve(platform::page_size());
  REQUIRE(memory);
  const address_region gone = memory->region();
  REQUIRE(memory->unmap());
  auto usage = platform::large_page_usage_of(gone);
  REQUIRE(usage);
  CHECK(usage->eligible == 0);
  CHECK(usage->huge == 0);
}

TEST_CASE("an allocator asked for large pages lays its spaces out in whole large pages",
          "[platform][large_pages][madvise]") {
  const std::size_t large = platform::large_page_size();
  if (large == 0) {
    WARN("no transparent huge pages in this kernel: nothing to check");
    return;
  }
  allocator::options o;
  o.pages = platform::page_backing::transparent_huge;
  allocator::tlsf<protection::mprotect_toggle> code(o);
  auto block = code.allocate(64);
  REQUIRE(block);
  REQUIRE(code.code_spaces().size() == 1);
  const code_space& space = code.code_spaces()[0];
  CHECK(space.region.begin() % large == 0);
  CHECK(space.region.size() % large == 0);
  CHECK(space.pages == expected_backing(false));
  // The whole large page under the block is committed, none beyond it.
  const std::uintptr_t first_large_page = block->executable() & ~(large - 1);
  CHECK(code.is_committed(first_large_page));
  CHECK(code.is_committed(first_large_page + large - 1));
  if (space.region.end() > first_large_page + large) CHECK(!code.is_committed(first_large_page + large));

  // Code written there runs.
  const example::return_constant function(33);
  {
    auto scope = code.begin_write(block->region());
    REQUIRE(scope);
    std::memcpy(reinterpret_cast<void*>(block->writable()), function.bytes.data(), function.size);
  }
  CHECK(example::function_at(block->executable())() == 33);

  allocator::tlsf<protection::mprotect_toggle> plain;
  REQUIRE(plain.allocate(64));
  CHECK(plain.code_spaces()[0].pages == platform::page_backing::normal);
}
