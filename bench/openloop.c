// open+close of one file in a tight loop; prints {"iterations":N,"ns":TOTAL} on stdout.
// The benchmarks time this instead of a Node loop so that Node's own per-call cost does
// not dilute the ratio between "monitor off" and "monitor on".
//   openloop PATH ITERATIONS [FLAGS]     FLAGS: r (O_RDONLY, default) or w (O_WRONLY)
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PATH ITERATIONS [r|w]\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	long n = strtol(argv[2], NULL, 10);
	int flags = (argc > 3 && argv[3][0] == 'w') ? O_WRONLY : O_RDONLY;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int fd = open(path, flags);

		if (fd < 0) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("{\"iterations\":%ld,\"ns\":%lld}\n", n, ns);
	return 0;
}
