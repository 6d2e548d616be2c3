// expect: jitcm: slab_free_space's Inner is not a jitcm::allocator::free_space_policy
// Slabs over a type that is no free-space policy are refused with the parameter's name.
#include <jitcm/allocator/slabs.hpp>

struct no_free_space {
  explicit no_free_space(std::size_t) {}
};

jitcm::allocator::slab_free_space<no_free_space> slabs{64};
