#include "greet.h"
#include "gen/version.h"

const char *greet_version(void) { return GREET_VERSION; }
