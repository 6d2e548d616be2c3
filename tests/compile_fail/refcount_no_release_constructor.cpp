// expect: jitcm: the ref_counting policy must be constructible from a refcount::release_callback
// A ref-counting policy that cannot be told how to free code is refused by name.
#include <cstddef>
#include <span>

#include <jitcm/refcount/concept.hpp>

struct refcount_without_release {
  struct scope {};
  bool hold(const jitcm::code&) { return true; }
  void retire(const jitcm::code&) {}
  std::size_t collect(std::span<const jitcm::code* const>) { return 0; }
  std::size_t retired_count() const { return 0; }
};

static_assert(jitcm::detail::check_ref_counting<refcount_without_release>());
