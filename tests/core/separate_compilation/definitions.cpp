// The one TU of the program that compiles jitcm's non-template functions.
#include <jitcm/separate_compilation.hpp>
