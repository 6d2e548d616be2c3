// expect: jitcm: basic_allocator's Protection is not a jitcm::protection::strategy
// A W^X strategy without the strategy's members is refused where the allocator is instantiated.
#include <jitcm/allocator/tlsf.hpp>

struct no_strategy {};

jitcm::allocator::tlsf<no_strategy> allocator;
