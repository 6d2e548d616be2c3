// libFuzzer target: the default allocator (tlsf free space, spare commit
// units) over pretend memory, against a map of the live blocks. Every input
// is a sequence of allocate, allocate_in_region, free, double free and
// wrong-size free calls with a spare limit chosen by the first byte; after
// each, blocks must be disjoint, inside a code area, on committed units, and
// the statistics must match the model and the pages the strategy holds. At
// the end everything is freed and each space's code area must be one free
// block again (every merge happened).
#include <jitcm/allocator/tlsf.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <vector>

#include "../allocator/fake_protection.hpp"
#include "fuzz_input.hpp"

namespace {

using fake_tlsf = jitcm::allocator::tlsf<jitcm::testing::fake_protection>;

using jitcm::fuzz::expect;
using jitcm::fuzz::reader;

const std::size_t page = jitcm::platform::page_size();

jitcm::allocator::options fuzz_options(std::size_t spare_pages, std::size_t decommit_interval) {
  jitcm::allocator::options o;
  o.alignment = 64;
  o.max_code_space_size = 256 << 10;
  o.min_code_space_size = 64 << 10;
  o.space_code_header = 64;
  o.commit_granularity = page;
  o.max_spare_committed = spare_pages * page;
  o.decommit_interval = decommit_interval;
  return o;
}

struct checked_allocator {
  fake_tlsf a;
  std::map<std::uintptr_t, std::size_t> live;  // begin -> size
  std::size_t live_bytes = 0;
  std::size_t freed_bytes = 0;

  checked_allocator(std::size_t spare_pages, std::size_t decommit_interval)
      : a{fuzz_options(spare_pages, decommit_interval)} {}

  void add(const jitcm::code_block& b) {
    auto above = live.lower_bound(b.executable());
    expect(above == live.end() || b.region().end() <= above->first);
    expect(above == live.begin() || std::prev(above)->first + std::prev(above)->second <= b.executable());
    bool inside = false;
    for (const jitcm::code_space& s : a.code_spaces()) inside = inside || s.code.contains(b.region());
    expect(inside);
    expect(a.is_committed(b.executable()) && a.is_committed(b.region().end() - 1));
    live.emplace(b.executable(), b.size());
    live_bytes += b.size();
  }

  // Frees by block or, with `by_address`, by its executable address alone.
  void remove(std::map<std::uintptr_t, std::size_t>::iterator it, bool by_address = false) {
    const jitcm::code_block b{it->first, it->first, it->second};
    expect(static_cast<bool>(by_address ? a.free(b.executable()) : a.free(b)));
    live_bytes -= b.size();
    freed_bytes += b.size();
    live.erase(it);
    auto again = a.free(b);
    expect(!again && again.error() == jitcm::errc::double_free);
    auto again_by_address = a.free(b.executable());
    expect(!again_by_address && again_by_address.error() == jitcm::errc::double_free);
  }

  void check() const {
    const jitcm::allocator_stats s = a.stats();
    expect(s.live == live_bytes);
    expect(s.freed == freed_bytes);
    // With a decommit interval, spare may pass the limit between bulk decommits.
    expect(a.config().decommit_interval != 0 || s.spare <= a.config().max_spare_committed);
    std::size_t committed = 0;
    for (std::size_t i = 0; i < a.code_spaces().size(); ++i) committed += a.space(i).committed_bytes();
    expect(s.committed == committed);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  const std::size_t spare_pages = in.next() % 8;
  checked_allocator c{spare_pages, in.next() % 4 == 0 ? 0 : in.next() % 16};
  while (!in.done()) {
    const std::size_t op = in.next() % 5;
    if (op <= 1) {
      const std::size_t bytes = 1 + in.next() * 64 + in.next() % 64;
      auto b = c.a.allocate(bytes);
      expect(static_cast<bool>(b));
      c.add(*b);
    } else if (op == 2 && !c.live.empty()) {
      auto it = c.live.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(in.next() % c.live.size()));
      c.remove(it, in.next() % 2 == 0);
    } else if (op == 3 && !c.live.empty()) {
      // A wrong size is refused and changes nothing.
      auto it = c.live.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(in.next() % c.live.size()));
      const jitcm::allocator_stats before = c.a.stats();
      auto wrong = c.a.free(jitcm::code_block{it->first, it->first, it->second + 64});
      expect(!wrong);
      expect(c.a.stats() == before);
    } else if (op == 4 && !c.a.code_spaces().empty()) {
      const jitcm::code_space& s = c.a.code_spaces()[in.next() % c.a.code_spaces().size()];
      const std::uintptr_t begin = s.code.begin() + (in.next() * 256) % s.code.size();
      const jitcm::address_region within{begin, 1 + (in.next() * 512) % (s.code.end() - begin)};
      auto b = c.a.allocate_in_region(1 + in.next() * 16, within);
      if (b) {
        expect(within.contains(b->region()));
        c.add(*b);
      }
    }
    c.check();
  }
  while (!c.live.empty()) c.remove(c.live.begin());
  c.check();
  c.a.decommit_spare();
  expect(c.a.stats().spare == 0);
  for (const jitcm::code_space& s : c.a.code_spaces()) {
    auto whole = c.a.allocate_in_region(s.code.size(), s.code);
    expect(whole && whole->region() == s.code);
  }
  return 0;
}
