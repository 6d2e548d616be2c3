// A program outside the jitcm tree. It sees only what an installation (or a
// parent project's subproject) provides, so it fails to build if a header is
// not installed or the package files point at the wrong place, and fails to
// run if what it reaches misbehaves.
#include <cstdio>
#include <cstring>
#include <system_error>

#if __has_include(<jitcm/jitcm.hpp>)
#include <jitcm/jitcm.hpp>
#endif
#include <jitcm/address_region.hpp>
#include <jitcm/base/error.hpp>
#include <jitcm/base/result.hpp>
#if __has_include(<jitcm/platform/virtual_memory.hpp>)
#include <jitcm/platform/virtual_memory.hpp>
#define CONSUMER_HAS_PLATFORM 1
#endif

// Built with a standard newer than C++20 chosen by the consumer: the package
// files must state jitcm's minimum without lowering it.
#if defined(JITCM_CONSUMER_NEWER_STANDARD)
static_assert(__cplusplus > 202002L, "the package files replaced the consumer's newer C++ standard");
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

jitcm::result<int> parse_positive(int value) {
  if (value <= 0) return jitcm::failure{jitcm::errc::invalid_argument};
  return value;
}

}  // namespace

int main() {
  const jitcm::address_region region{0x1000, 0x100};
  check(region.contains(0x1080) && !region.contains(0x1100), "address_region bounds");

  const auto good = parse_positive(7);
  check(good.has_value() && *good == 7, "result carries a value");
  const auto bad = parse_positive(-1);
  check(!bad.has_value() && bad.error() == std::error_code{jitcm::errc::invalid_argument},
        "result carries a jitcm::errc error");

#if defined(CONSUMER_HAS_PLATFORM)
  const std::size_t page = jitcm::platform::page_size();
  check(page >= 4096, "page size");
  auto reserved = jitcm::platform::reserve(4 * page);
  check(reserved.has_value(), "reserve four pages");
  if (reserved.has_value()) {
    const jitcm::address_region first_page{reserved->begin(), page};
    check(jitcm::platform::commit(first_page, jitcm::platform::access::read_write).has_value(),
          "commit one page read-write");
    std::memset(reinterpret_cast<void*>(first_page.begin()), 0x5a, page);
    check(reinterpret_cast<const unsigned char*>(first_page.begin())[page - 1] == 0x5a,
          "committed page holds what was written");
    check(jitcm::platform::unmap(*reserved).has_value(), "release");
  }
  check(!jitcm::platform::reserve(0).has_value(), "reserving zero bytes is an error");
#endif

  if (failures != 0) return 1;
  std::puts("jitcm consumer: ok");
  return 0;
}
