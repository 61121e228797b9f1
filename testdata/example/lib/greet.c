#include <stdio.h>
#include "greet.h"
#include "gen/version.h"

int greet(char *buf, size_t n, const char *name) {
    /* TODO: localise the punctuation */
    return snprintf(buf, n, "%s, %s!", GREETING, name && *name ? name : "world");
}
