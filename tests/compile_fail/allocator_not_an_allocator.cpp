// expect: jitcm: basic_code_manager's Allocator policy has no member type `block` with executable(), writable(), size() and region()
// A type that is no allocator at all is refused with a sentence for each member it lacks.
#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<int> manager;
