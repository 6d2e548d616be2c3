// expect: jitcm: basic_allocator's Protection is not a jitcm::protection::strategy
// A strategy with its two types but not its members passes the class and is refused where the allocator is constructed.
#include <jitcm/allocator/tlsf.hpp>

struct types_only {
  struct space {};
  struct write_scope {};
};

jitcm::allocator::tlsf<types_only> allocator;
