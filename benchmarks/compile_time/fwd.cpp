// <jitcm/fwd.hpp> alone: what a header that only names jitcm's types pays.
#include <jitcm/fwd.hpp>
