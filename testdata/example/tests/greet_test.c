#include <stdio.h>
#include <string.h>
#include "lib/greet.h"

int main(void) {
    char buf[64];
    greet(buf, sizeof buf, "pex");
    if (strstr(buf, ", pex!") == NULL) {
        fprintf(stderr, "greet: got %s\n", buf);
        return 1;
    }
    greet(buf, sizeof buf, "");
    if (strstr(buf, ", world!") == NULL) {
        fprintf(stderr, "greet with no name: got %s\n", buf);
        return 1;
    }
    printf("greet_test: ok (%s)\n", greet_version());
    return 0;
}
