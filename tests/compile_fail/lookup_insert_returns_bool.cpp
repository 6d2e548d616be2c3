// expect: jitcm: the code_lookup policy must have insert(const code*) returning jitcm::result<void>
// A lookup policy whose insert cannot report an error is refused by name.
#include <cstdint>

#include <jitcm/lookup/concept.hpp>

struct lookup_with_bool_insert {
  bool insert(const jitcm::code*) { return true; }
  jitcm::result<void> erase(const jitcm::code*) { return {}; }
  const jitcm::code* find(std::uintptr_t) const { return nullptr; }
};

static_assert(jitcm::detail::check_code_lookup<lookup_with_bool_insert>());
