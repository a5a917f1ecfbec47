/*
 * kernel.c - the real kernel's side of `make bench`: native microbenchmarks
 * of the syscalls anonvm models, on this machine.
 *
 * Every case here has a twin in cli/bench.c (`anonvm bench`) doing the same
 * work on the model; bench/run.sh runs the two alternately, case by case,
 * and bench/report.c puts the numbers side by side.  The case list, the
 * options and the result format are in bench/bench.h.
 *
 * Each case maps its pages at the same fixed arena addresses the model
 * uses (BENCH_A, BENCH_B), MADV_NOHUGEPAGE, so the kernel does per-PTE work
 * as the model does (THP is "madvise" here, spec/host-kernel.md).  Setup
 * that is not the measured operation (populating N pages, forking the
 * child, swapping back in) runs outside the timed window; populating uses
 * MADV_POPULATE_WRITE so setup does not cost a trap per page.  Each case
 * checks that the kernel really did the work (contents after a move, VmSwap
 * after a pageout), so a misconfigured run cannot report a fast nothing.
 *
 * Usage: bench/kernel [--sizes LIST] [--set case,case] [--runs K] [--quick]
 *                     [--json] [--mem]
 *
 * Not part of libanonvm: this is a plain program, built by bench/run.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The installed headers are 6.1; UFFDIO_MOVE arrived in 6.8. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
	uint64_t dst, src, len, mode;
	int64_t move;
};
#define _UFFDIO_MOVE 0x05
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE BENCH_PAGE
#define SIDE "kernel"

static struct bench_opts opts;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static volatile uint64_t *word(unsigned long base, unsigned long i)
{
	return (volatile uint64_t *)(base + i * PAGE);
}

/* Map @n pages at @addr; @populate: fault them in and store i + 1 in page i. */
static void region_map(unsigned long addr, unsigned long n, bool populate)
{
	void *p = mmap((void *)addr, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED || (unsigned long)p != addr)
		die("mmap arena");
	if (madvise(p, n * PAGE, MADV_NOHUGEPAGE))
		die("madvise NOHUGEPAGE");
	if (!populate)
		return;
	if (madvise(p, n * PAGE, MADV_POPULATE_WRITE))
		die("MADV_POPULATE_WRITE");
	for (unsigned long i = 0; i < n; i++)
		*word(addr, i) = i + 1;
}

static void region_unmap(unsigned long addr, unsigned long n)
{
	if (munmap((void *)addr, n * PAGE))
		die("munmap");
}

/* Fail loudly if page i does not hold i + 1 + @delta (the case went wrong). */
static void region_check(unsigned long addr, unsigned long n, uint64_t delta, const char *what)
{
	for (unsigned long i = 0; i < n; i += 1 + n / 64)
		if (*word(addr, i) != i + 1 + delta) {
			fprintf(stderr, "kernel bench: %s: page %lu holds %lu, expected %lu\n",
				what, i, (unsigned long)*word(addr, i),
				(unsigned long)(i + 1 + delta));
			exit(3);
		}
}

/* A value from /proc/self/status ("VmSwap:" ...) in kB, -1 if missing. */
static long status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Free swap in bytes according to /proc/swaps. */
static unsigned long long swap_free_bytes(void)
{
	char line[512];
	unsigned long long total = 0;
	FILE *f = fopen("/proc/swaps", "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[256], type[32];
		unsigned long long size, used;

		if (sscanf(line, "%255s %31s %llu %llu", name, type, &size, &used) == 4)
			total += (size - used) * 1024;
	}
	fclose(f);
	return total;
}

/* ---- a child that waits: fork, hold, release ----------------------- */

struct child {
	pid_t pid;
	int release; /* write end: closing it lets the child exit */
};

/*
 * Fork a child that touches nothing and waits until released.  Only
 * async-signal-safe calls in the child (read, _exit).
 */
static struct child child_fork_hold(double *fork_ns)
{
	struct child c;
	int fds[2];
	char b;
	double t0;

	if (pipe(fds))
		die("pipe");
	t0 = bench_now_ns();
	c.pid = fork();
	if (c.pid == 0) {
		close(fds[1]);
		while (read(fds[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	if (fork_ns)
		*fork_ns = bench_now_ns() - t0;
	if (c.pid < 0)
		die("fork");
	close(fds[0]);
	c.release = fds[1];
	return c;
}

static void child_release_wait(struct child *c)
{
	int st;

	close(c->release);
	if (waitpid(c->pid, &st, 0) != c->pid)
		die("waitpid");
}

/* ---- cases ----------------------------------------------------------- */

static void case_write_fault(struct bench_result *r, unsigned long n)
{
	for (int run = 0; run < opts.runs; run++) {
		double t0, t1;

		region_map(BENCH_A, n, false);
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++)
			*word(BENCH_A, i) = i + 1;
		t1 = bench_now_ns();
		region_check(BENCH_A, n, 0, "write-fault");
		region_unmap(BENCH_A, n);
		bench_add(r, t1 - t0, (double)n);
	}
}

static void case_read_fault(struct bench_result *r, unsigned long n)
{
	uint64_t sum = 0;

	for (int run = 0; run < opts.runs; run++) {
		double t0, t1;

		region_map(BENCH_A, n, false);
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++)
			sum += *word(BENCH_A, i);
		t1 = bench_now_ns();
		region_unmap(BENCH_A, n);
		bench_add(r, t1 - t0, (double)n);
	}
	if (sum != 0) {
		fprintf(stderr, "kernel bench: read-fault read non-zero memory\n");
		exit(3);
	}
	snprintf(r->note, sizeof(r->note),
		 "host boots with pvm_no_zero_page=1: a read fault allocates a zeroed page");
}

static void case_fork(struct bench_result *r, unsigned long n)
{
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		double ns;
		struct child c = child_fork_hold(&ns);

		child_release_wait(&c);
		bench_add(r, ns, (double)n);
	}
	region_check(BENCH_A, n, 0, "fork");
	region_unmap(BENCH_A, n);
}

static void case_exit(struct bench_result *r, unsigned long n)
{
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		struct child c = child_fork_hold(NULL);
		double t0 = bench_now_ns();

		child_release_wait(&c);
		bench_add(r, bench_now_ns() - t0, (double)n);
	}
	region_unmap(BENCH_A, n);
	snprintf(r->note, sizeof(r->note), "includes waking the parent from waitpid");
}

/* @reuse: let the child exit before the parent writes (R8 reuse path). */
static void case_cow(struct bench_result *r, unsigned long n, bool reuse)
{
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		struct child c = child_fork_hold(NULL);
		double t0, t1;

		if (reuse)
			child_release_wait(&c);
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++)
			*word(BENCH_A, i) = i + 1 + (uint64_t)run + 1;
		t1 = bench_now_ns();
		if (!reuse)
			child_release_wait(&c);
		region_check(BENCH_A, n, (uint64_t)run + 1, reuse ? "cow-reuse" : "cow-break");
		bench_add(r, t1 - t0, (double)n);
	}
	region_unmap(BENCH_A, n);
}

static void case_munmap(struct bench_result *r, unsigned long n, bool dontneed)
{
	for (int run = 0; run < opts.runs; run++) {
		double t0, t1;

		region_map(BENCH_A, n, true);
		t0 = bench_now_ns();
		if (dontneed ? madvise((void *)BENCH_A, n * PAGE, MADV_DONTNEED)
			     : munmap((void *)BENCH_A, n * PAGE))
			die(dontneed ? "MADV_DONTNEED" : "munmap");
		t1 = bench_now_ns();
		if (dontneed) {
			if (*word(BENCH_A, n - 1) != 0) {
				fprintf(stderr, "kernel bench: DONTNEED left content\n");
				exit(3);
			}
			region_unmap(BENCH_A, n);
		}
		bench_add(r, t1 - t0, (double)n);
	}
}

/*
 * @dst = BENCH_B: source and destination share their alignment, so the
 * kernel may move whole page-table pages (move_pgt_entry); dst one page
 * further forces the PTE-by-PTE path (move_ptes).
 */
static void case_mremap(struct bench_result *r, unsigned long n, unsigned long dst)
{
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns();
		void *p = mremap((void *)BENCH_A, n * PAGE, n * PAGE,
				 MREMAP_MAYMOVE | MREMAP_FIXED, (void *)dst);
		double t1 = bench_now_ns();

		if (p != (void *)dst)
			die("mremap");
		region_check(dst, n, 0, "mremap");
		if (mremap((void *)dst, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)BENCH_A) != (void *)BENCH_A)
			die("mremap back");
		bench_add(r, t1 - t0, (double)n);
	}
	region_unmap(BENCH_A, n);
	snprintf(r->note, sizeof(r->note), dst == BENCH_B ?
		 "equally aligned: the kernel moves whole page-table pages" :
		 "misaligned by one page: the kernel moves PTE by PTE");
}

static void case_mprotect(struct bench_result *r, unsigned long n)
{
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns();

		if (mprotect((void *)BENCH_A, n * PAGE, PROT_READ))
			die("mprotect");
		bench_add(r, bench_now_ns() - t0, (double)n);
		if (mprotect((void *)BENCH_A, n * PAGE, PROT_READ | PROT_WRITE))
			die("mprotect back");
	}
	region_unmap(BENCH_A, n);
}

static void case_mprotect_split(struct bench_result *r, unsigned long n)
{
	unsigned long mid = BENCH_A + (n / 2) * PAGE;

	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns();
		int reps = 64;

		for (int i = 0; i < reps; i++) {
			if (mprotect((void *)mid, PAGE, PROT_READ))
				die("mprotect split");
			if (mprotect((void *)mid, PAGE, PROT_READ | PROT_WRITE))
				die("mprotect merge");
		}
		bench_add(r, bench_now_ns() - t0, 2.0 * reps);
	}
	region_check(BENCH_A, n, 0, "mprotect-split");
	region_unmap(BENCH_A, n);
}

/*
 * mmap + munmap of one page at a fixed place, N times, while 1024 other
 * one-page VMAs (alternating protections, so they cannot merge) sit in
 * the address space.
 */
static void case_churn(struct bench_result *r, unsigned long n)
{
	const unsigned long bg = 1024;

	for (unsigned long i = 0; i < bg; i++)
		if (mmap((void *)(BENCH_C + i * PAGE), PAGE,
			 i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
			die("mmap background");
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns();

		for (unsigned long i = 0; i < n; i++) {
			void *p = mmap((void *)BENCH_A, PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

			if (p == MAP_FAILED || munmap(p, PAGE))
				die("churn");
		}
		bench_add(r, bench_now_ns() - t0, (double)n);
	}
	region_unmap(BENCH_C, bg);
	snprintf(r->note, sizeof(r->note), "per mmap+munmap pair, 1024 other VMAs mapped");
}

static int uffd_open_move(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || !(api.features & UFFD_FEATURE_MOVE)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void uffd_register(int fd, unsigned long addr, unsigned long len)
{
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
}

static void uffd_move(int fd, unsigned long dst, unsigned long src, unsigned long len)
{
	struct uffdio_move mv = { .dst = dst, .src = src, .len = len, .mode = 0 };

	if (ioctl(fd, UFFDIO_MOVE, &mv) || mv.move != (int64_t)len) {
		fprintf(stderr, "kernel bench: UFFDIO_MOVE moved %lld of %lu: %s\n",
			(long long)mv.move, len, strerror(errno));
		exit(3);
	}
}

static void case_uffd_move(struct bench_result *r, unsigned long n)
{
	int fd = uffd_open_move();

	if (fd < 0) {
		r->skip = true;
		snprintf(r->note, sizeof(r->note), "userfaultfd without UFFD_FEATURE_MOVE");
		return;
	}
	region_map(BENCH_A, n, true);
	region_map(BENCH_B, n, false);
	uffd_register(fd, BENCH_A, n * PAGE);
	uffd_register(fd, BENCH_B, n * PAGE);
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns(), t1;

		uffd_move(fd, BENCH_B, BENCH_A, n * PAGE);
		t1 = bench_now_ns();
		region_check(BENCH_B, n, 0, "uffd-move");
		uffd_move(fd, BENCH_A, BENCH_B, n * PAGE);
		bench_add(r, t1 - t0, (double)n);
	}
	close(fd);
	region_unmap(BENCH_A, n);
	region_unmap(BENCH_B, n);
}

static bool swap_ready(struct bench_result *r, unsigned long n)
{
	if (swap_free_bytes() >= (unsigned long long)(n + 1024) * PAGE)
		return true;
	r->skip = true;
	snprintf(r->note, sizeof(r->note),
		 "no swap device with room (bench/run.sh sets up zram as root)");
	return false;
}

static void pageout_checked(unsigned long n)
{
	long before = status_kb("VmSwap:");

	if (madvise((void *)BENCH_A, n * PAGE, MADV_PAGEOUT))
		die("MADV_PAGEOUT");
	if (status_kb("VmSwap:") - before < (long)(n * 4) * 9 / 10) {
		fprintf(stderr, "kernel bench: MADV_PAGEOUT swapped %ld kB of %lu\n",
			status_kb("VmSwap:") - before, n * 4);
		exit(3);
	}
}

static void case_swap(struct bench_result *r, unsigned long n, bool in)
{
	if (!swap_ready(r, n))
		return;
	region_map(BENCH_A, n, true);
	for (int run = 0; run < opts.runs; run++) {
		double t0, t1;
		uint64_t sum = 0;

		t0 = bench_now_ns();
		if (!in)
			pageout_checked(n);
		t1 = bench_now_ns();
		if (in)
			pageout_checked(n);
		t0 = in ? bench_now_ns() : t0;
		for (unsigned long i = 0; i < n; i++)
			sum += *word(BENCH_A, i);
		t1 = in ? bench_now_ns() : t1;
		if (sum != (uint64_t)n * (n + 1) / 2) {
			fprintf(stderr, "kernel bench: swap lost content\n");
			exit(3);
		}
		bench_add(r, t1 - t0, (double)n);
	}
	region_unmap(BENCH_A, n);
	snprintf(r->note, sizeof(r->note), "zram");
}

/* ---- rmap walks: one page mapped by K processes ------------------------- */

/*
 * MADV_PAGEOUT skips a page mapped by more than one process, and this
 * kernel has no other targeted unmap of a shared anonymous page (no
 * page_idle, one NUMA node so no migration).  What does reach it is memcg
 * reclaim: the page is charged to a memory cgroup of its own (cgroup v1
 * here), and writing memory.force_empty reclaims it, which is
 * shrink_folio_list -> try_to_unmap through the rmap, over all K mappings.
 * The time includes force_empty's fixed costs (lru_add_drain_all, memcg
 * reclaim set-up, the zram write on the first run), so compare the growth
 * with K rather than the K = 1 figure.  Without the cgroup, K = 1 falls
 * back to MADV_PAGEOUT of the page and K > 1 says SKIP.
 */
static char memcg_home[512], memcg_dir[600];

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[700];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		rc = -1;
	close(fd);
	return rc;
}

static long read_long(const char *dir, const char *file)
{
	char path[700], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtol(buf, NULL, 10);
}

static void memcg_teardown(void)
{
	if (memcg_dir[0])
		rmdir(memcg_dir);
	memcg_dir[0] = 0;
}

/* A child memory cgroup of our own (v1).  Returns: true when usable. */
static bool memcg_setup(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "r");

	memcg_home[0] = 0;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":memory:");

		if (p) {
			p[strcspn(p, "\n")] = 0;
			snprintf(memcg_home, sizeof(memcg_home), "/sys/fs/cgroup/memory%s",
				 p + strlen(":memory:"));
		}
	}
	fclose(f);
	if (!memcg_home[0])
		return false;
	snprintf(memcg_dir, sizeof(memcg_dir), "%s/anonvm-bench-%d", memcg_home, (int)getpid());
	if (mkdir(memcg_dir, 0755) && errno != EEXIST)
		return false;
	atexit(memcg_teardown);
	return read_long(memcg_dir, "memory.usage_in_bytes") >= 0;
}

static void memcg_enter(const char *dir)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (write_file(dir, "cgroup.procs", pid))
		die("cgroup.procs");
}

/* pagemap bit 62: the page at @addr is swapped out. */
static bool page_swapped(unsigned long addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return false;
	if (pread(fd, &e, sizeof(e), (off_t)(addr / PAGE) * 8) != sizeof(e))
		e = 0;
	close(fd);
	return e >> 62 & 1;
}

struct sharers {
	unsigned long k;
	int (*cmd)[2]; /* per process: 't' = read the page and ack; EOF = exit */
	int ack[2];
	pid_t *direct;  /* children of this process to wait for */
	int ndirect;
};

static void sharer_loop(struct sharers *sh, unsigned long i, pid_t child)
{
	char c;

	for (;;) {
		ssize_t rc = read(sh->cmd[i][0], &c, 1);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		c = *word(BENCH_A, 0) == 1 ? 'y' : 'n';
		if (write(sh->ack[1], &c, 1) != 1)
			break;
	}
	if (child > 0)
		waitpid(child, NULL, 0);
	_exit(0);
}

/* In a new child: it sends no commands and reads no acks. */
static void sharer_close_writes(struct sharers *sh)
{
	for (unsigned long j = 1; j < sh->k; j++)
		close(sh->cmd[j][1]);
	close(sh->ack[0]);
}

/* ... and listens only on its own command pipe. */
static void sharer_close_reads(struct sharers *sh, unsigned long i)
{
	for (unsigned long j = 1; j < sh->k; j++)
		if (j != i)
			close(sh->cmd[j][0]);
}

/* Chain: process i forks process i + 1. */
static pid_t chain_fork(struct sharers *sh, unsigned long i)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pid_t next = 0;

		sharer_close_writes(sh);
		/* later processes' read ends must survive until they are forked */
		if (i + 1 < sh->k)
			next = chain_fork(sh, i + 1);
		sharer_close_reads(sh, i);
		sharer_loop(sh, i, next);
	}
	return pid;
}

static void sharers_start(struct sharers *sh, unsigned long k, bool chain)
{
	sh->k = k;
	sh->cmd = calloc(k, sizeof(*sh->cmd));
	sh->direct = calloc(k, sizeof(pid_t));
	sh->ndirect = 0;
	if (!sh->cmd || !sh->direct || pipe(sh->ack))
		die("sharers");
	for (unsigned long i = 1; i < k; i++)
		if (pipe(sh->cmd[i]))
			die("pipe");
	if (k > 1 && chain) {
		sh->direct[sh->ndirect++] = chain_fork(sh, 1);
	} else {
		for (unsigned long i = 1; i < k; i++) {
			pid_t pid = fork();

			if (pid < 0)
				die("fork");
			if (pid == 0) {
				sharer_close_writes(sh);
				sharer_close_reads(sh, i);
				sharer_loop(sh, i, 0);
			}
			sh->direct[sh->ndirect++] = pid;
		}
	}
	for (unsigned long i = 1; i < k; i++)
		close(sh->cmd[i][0]);
	close(sh->ack[1]);
}

/* Every sharer reads the page (swapping it back in); all must see 1. */
static void sharers_touch(struct sharers *sh)
{
	char c;

	if (*word(BENCH_A, 0) != 1)
		die("rmap page content");
	for (unsigned long i = 1; i < sh->k; i++) {
		if (write(sh->cmd[i][1], "t", 1) != 1 || read(sh->ack[0], &c, 1) != 1 || c != 'y') {
			fprintf(stderr, "kernel bench: sharer %lu did not read the page back\n", i);
			exit(3);
		}
	}
}

static void sharers_stop(struct sharers *sh)
{
	for (unsigned long i = 1; i < sh->k; i++)
		close(sh->cmd[i][1]);
	for (int i = 0; i < sh->ndirect; i++)
		waitpid(sh->direct[i], NULL, 0);
	close(sh->ack[0]);
	free(sh->cmd);
	free(sh->direct);
}

static void case_rmap(struct bench_result *r, unsigned long k, bool chain)
{
	struct sharers sh;
	long usage;

	if (!swap_ready(r, 1))
		return;
	if (!memcg_setup()) {
		memcg_teardown();
		if (k > 1) {
			r->skip = true;
			snprintf(r->note, sizeof(r->note),
				 "MADV_PAGEOUT skips shared pages and no memory cgroup to reclaim from");
			return;
		}
		region_map(BENCH_A, 1, true);
		for (int run = 0; run < opts.runs; run++) {
			double t0 = bench_now_ns();

			pageout_checked(1);
			bench_add(r, bench_now_ns() - t0, 1.0);
			region_check(BENCH_A, 1, 0, "rmap");
		}
		region_unmap(BENCH_A, 1);
		snprintf(r->note, sizeof(r->note), "K=1 only: MADV_PAGEOUT of one page (zram)");
		return;
	}
	/*
	 * Fault the page-table page in our own cgroup first (page 1), so the
	 * bench cgroup is charged with page 0 alone.
	 */
	region_map(BENCH_A, 2, false);
	*word(BENCH_A, 1) = 2;
	memcg_enter(memcg_dir);
	*word(BENCH_A, 0) = 1;
	memcg_enter(memcg_home);
	usage = read_long(memcg_dir, "memory.usage_in_bytes");
	sharers_start(&sh, k, chain);
	for (int run = 0; run < opts.runs; run++) {
		double t0 = bench_now_ns(), t1;

		if (write_file(memcg_dir, "memory.force_empty", "0"))
			die("memory.force_empty");
		t1 = bench_now_ns();
		if (!page_swapped(BENCH_A)) {
			fprintf(stderr, "kernel bench: force_empty did not swap the page out\n");
			exit(3);
		}
		bench_add(r, t1 - t0, 1.0);
		sharers_touch(&sh);
	}
	sharers_stop(&sh);
	region_unmap(BENCH_A, 2);
	memcg_teardown();
	snprintf(r->note, sizeof(r->note),
		 "memcg v1 memory.force_empty of a cgroup charged with only this page: "
		 "shrink_folio_list/try_to_unmap, plus lru_add_drain_all and zram");
	(void)usage; /* includes memcg's per-CPU charge batch, so not shown */
}

/* ---- memory: the kernel's bytes per resident page and per VMA -------- */

/* objsize of a slab cache from /proc/slabinfo (root), 0 if unknown. */
static double slab_objsize(const char *cache)
{
	char line[512];
	double size = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned long active, num, sz;

		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num, &sz) == 4 &&
		    strcmp(name, cache) == 0)
			size = (double)sz;
	}
	fclose(f);
	return size;
}

/*
 * The kernel's bytes per resident anonymous page: struct page (64 B) plus
 * the page tables, measured as the growth of VmPTE over N pages.  Per VMA
 * the slab deltas are unreliable (SLUB counts per-CPU slabs as in use and
 * reuses what the last test freed), so the figure is structural: one
 * vm_area_struct plus a maple-tree leaf slot (a 256 B node of 16 slots),
 * and for a faulted VMA also its anon_vma, one anon_vma_chain, the page
 * and its PTE, with the sizes this kernel reports in /proc/slabinfo.
 */
static void mem_report(void)
{
	unsigned long n = opts.sizes[opts.nsizes - 1];
	long pte0 = status_kb("VmPTE:"), pte1;
	double vma = slab_objsize("vm_area_struct"), mt = slab_objsize("maple_node");
	double av = slab_objsize("anon_vma"), avc = slab_objsize("anon_vma_chain");
	char note[200];

	region_map(BENCH_A, n, true);
	pte1 = status_kb("VmPTE:");
	region_unmap(BENCH_A, n);
	snprintf(note, sizeof(note), "struct page 64 B + %.3f B of page tables (VmPTE growth)",
		 (double)(pte1 - pte0) * 1024 / (double)n);
	bench_print_value(stdout, SIDE, "mem-page", n, "B/page",
			  64.0 + (double)(pte1 - pte0) * 1024 / (double)n, note, opts.json);
	if (vma <= 0)
		return;
	snprintf(note, sizeof(note), "structural: vm_area_struct %.0f B + maple_node %.0f B / 16 "
		 "slots", vma, mt);
	bench_print_value(stdout, SIDE, "mem-vma", 1, "B/vma", vma + mt / 16, note, opts.json);
	snprintf(note, sizeof(note), "structural: + anon_vma %.0f B + anon_vma_chain %.0f B + "
		 "page 64 B + PTE 8 B", av, avc);
	bench_print_value(stdout, SIDE, "mem-vma-anon", 1, "B/vma",
			  vma + mt / 16 + av + avc + 64 + 8, note, opts.json);
}

/* ---- driver -------------------------------------------------------------- */

static void run_case(const char *name, unsigned long n)
{
	struct bench_result r;

	bench_result_init(&r, SIDE, name, n);
	if (!strcmp(name, "write-fault"))
		case_write_fault(&r, n);
	else if (!strcmp(name, "read-fault"))
		case_read_fault(&r, n);
	else if (!strcmp(name, "fork"))
		case_fork(&r, n);
	else if (!strcmp(name, "exit"))
		case_exit(&r, n);
	else if (!strcmp(name, "cow-break"))
		case_cow(&r, n, false);
	else if (!strcmp(name, "cow-reuse"))
		case_cow(&r, n, true);
	else if (!strcmp(name, "munmap"))
		case_munmap(&r, n, false);
	else if (!strcmp(name, "dontneed"))
		case_munmap(&r, n, true);
	else if (!strcmp(name, "mremap"))
		case_mremap(&r, n, BENCH_B);
	else if (!strcmp(name, "mremap-unaligned"))
		case_mremap(&r, n, BENCH_B + PAGE);
	else if (!strcmp(name, "mprotect"))
		case_mprotect(&r, n);
	else if (!strcmp(name, "mprotect-split"))
		case_mprotect_split(&r, n);
	else if (!strcmp(name, "churn"))
		case_churn(&r, n);
	else if (!strcmp(name, "uffd-move"))
		case_uffd_move(&r, n);
	else if (!strcmp(name, "swap-out"))
		case_swap(&r, n, false);
	else if (!strcmp(name, "swap-in"))
		case_swap(&r, n, true);
	else if (!strcmp(name, "rmap-chain"))
		case_rmap(&r, n, true);
	else if (!strcmp(name, "rmap-star"))
		case_rmap(&r, n, false);
	bench_finish(&r);
	bench_print(stdout, &r, opts.json);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench/kernel [--size N|--sizes LIST] [--set case,case] [--runs K]\n"
		   "                    [--quick] [--json] [--mem] [--list]\n"
		   "cases:");
	for (size_t i = 0; i < BENCH_NR_CASES; i++)
		fprintf(f, " %s", bench_cases[i].name);
	fprintf(f, "\n--mem reports bytes per resident page and per VMA (as root)\n");
}

int main(int argc, char **argv)
{
	bool mem = false;
	unsigned long sizes[BENCH_MAX_SIZES];

	bench_opts_init(&opts);
	signal(SIGPIPE, SIG_IGN); /* a dead sharer is an error message, not a silent death */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "--size") || !strcmp(a, "--sizes")) && i + 1 < argc) {
			if (bench_parse_sizes(&opts, argv[++i])) {
				fprintf(stderr, "bad size list '%s'\n", argv[i]);
				return 1;
			}
		} else if (!strcmp(a, "--set") && i + 1 < argc) {
			opts.set = argv[++i];
			if (bench_check_set(opts.set))
				return 1;
		} else if (!strcmp(a, "--runs") && i + 1 < argc) {
			opts.runs = atoi(argv[++i]);
		} else if (!strcmp(a, "--quick")) {
			opts.quick = true;
		} else if (!strcmp(a, "--json")) {
			opts.json = true;
		} else if (!strcmp(a, "--mem")) {
			mem = true;
		} else if (!strcmp(a, "--verify")) {
			opts.verify = true; /* every kernel case checks its result anyway */
		} else if (!strcmp(a, "--list")) {
			for (size_t c = 0; c < BENCH_NR_CASES; c++)
				printf("%s\n", bench_cases[c].name);
			return 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 1;
		}
	}
	bench_opts_finish(&opts);
	if (mem && !opts.set) {
		mem_report();
		return 0;
	}
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		if (!bench_selected(&opts, bench_cases[c].name))
			continue;
		int ns = bench_case_sizes(&opts, bench_cases[c].name, sizes);

		for (int s = 0; s < ns; s++)
			run_case(bench_cases[c].name, sizes[s]);
	}
	if (mem)
		mem_report();
	return 0;
}
