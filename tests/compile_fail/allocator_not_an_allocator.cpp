// expect: jitcm: the code_allocator policy must have an options type
// A type that is no allocator at all is refused with the first thing it lacks.
#include <jitcm/code_manager.hpp>

jitcm::basic_code_manager<int> manager;
