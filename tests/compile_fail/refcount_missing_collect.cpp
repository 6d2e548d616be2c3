// expect: jitcm: the ref_counting policy must have collect(std::span<const code* const>) returning std::size_t
// A ref-counting policy without collect is refused by name when a manager uses it.
#include <cstddef>

#include <jitcm/presets.hpp>

struct refcount_without_collect {
  struct scope {};
  explicit refcount_without_collect(jitcm::refcount::release_callback) {}
  bool hold(const jitcm::code&) { return true; }
  void retire(const jitcm::code&) {}
  std::size_t retired_count() const { return 0; }
};

jitcm::with_ref_counting<jitcm::code_manager, refcount_without_collect> manager;
