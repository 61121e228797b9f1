/* hello: "hello NAME" prints a greeting; "hello --serve PORT N" answers N
 * connections on 127.0.0.1:PORT with a greeting; "hello --get PORT" prints
 * what the server says. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "lib/greet.h"

static struct sockaddr_in addr(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int serve(int port, int n) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = addr(port);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0) {
        perror("hello: bind");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char buf[128];
        int c = accept(s, NULL, NULL);
        if (c < 0) return 1;
        int len = greet(buf, sizeof buf - 1, "client");
        buf[len++] = '\n';
        if (write(c, buf, (size_t)len) != len) perror("hello: write");
        close(c);
    }
    close(s);
    return 0;
}

static int get(int port) {
    struct sockaddr_in a = addr(port);
    for (int try = 0; try < 100; try++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            char buf[128];
            ssize_t n = read(s, buf, sizeof buf);
            if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
            close(s);
            return n > 0 ? 0 : 1;
        }
        close(s);
        usleep(20000);
    }
    fprintf(stderr, "hello: nothing listens on port %d\n", port);
    return 1;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--serve") == 0) return serve(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "--get") == 0) return get(atoi(argv[2]));
    char buf[128];
    greet(buf, sizeof buf, argc > 1 ? argv[1] : "");
    printf("%s (v%s)\n", buf, greet_version());
    return 0;
}
