#ifndef GREET_H
#define GREET_H
#include <stddef.h>

/* greet writes "<greeting>, <name>!" into buf and returns its length. */
int greet(char *buf, size_t n, const char *name);

/* greet_version returns the library's version. */
const char *greet_version(void);
#endif
