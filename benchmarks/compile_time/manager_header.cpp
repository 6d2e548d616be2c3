// <jitcm/code_manager.hpp> alone: the header a TU that uses only the default manager needs.
#include <jitcm/code_manager.hpp>
