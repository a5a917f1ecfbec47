/*
 * driver.c - replay inputs through the fuzz harness without libFuzzer:
 * `driver FILE|DIR...` runs LLVMFuzzerTestOneInput on every file (a
 * directory: every regular file in it).  Prints "N inputs" and exits 0, or
 * dies with the harness's abort on the first bad input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long ninputs;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n > 0 ? (size_t)n : 0);
	free(buf);
	ninputs++;
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			while (d && (e = readdir(d))) {
				char p[4096];
				struct stat s2;
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				if (stat(p, &s2) == 0 && S_ISREG(s2.st_mode) && run_file(p))
					bad = 1;
			}
			if (d)
				closedir(d);
		} else if (run_file(argv[i])) {
			bad = 1;
		}
	}
	printf("%lu inputs\n", ninputs);
	return bad;
}
