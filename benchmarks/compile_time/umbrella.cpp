// <jitcm/jitcm.hpp> alone: what every TU of a JIT pays for including it.
#include <jitcm/jitcm.hpp>
