/* A test binary with several cases: "--list" prints their names, one per
 * line, and "cases_test NAME" runs one. The BUILD file discovers the
 * cases and makes one test rule of each. */
#include <stdio.h>
#include <string.h>
#include "lib/greet.h"

static int greets_by_name(void) {
    char buf[64];
    greet(buf, sizeof buf, "pex");
    return strstr(buf, ", pex!") != NULL;
}

static int greets_the_world(void) {
    char buf[64];
    greet(buf, sizeof buf, "");
    return strstr(buf, ", world!") != NULL;
}

static int truncates(void) {
    char buf[8];
    greet(buf, sizeof buf, "a long name");
    return strlen(buf) == sizeof buf - 1;
}

static int has_version(void) { return strlen(greet_version()) > 0; }

static const struct {
    const char *name;
    int (*run)(void);
} cases[] = {
    {"greets_by_name", greets_by_name},
    {"greets_the_world", greets_the_world},
    {"truncates", truncates},
    {"has_version", has_version},
};

int main(int argc, char **argv) {
    size_t n = sizeof cases / sizeof cases[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++) puts(cases[i].name);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < n; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            int ok = cases[i].run();
            printf("%s: %s\n", cases[i].name, ok ? "ok" : "FAILED");
            return ok ? 0 : 1;
        }
    }
    fprintf(stderr, "usage: cases_test --list | cases_test NAME\n");
    return 2;
}
