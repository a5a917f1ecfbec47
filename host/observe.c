/*
 * observe.c - reading a puppet's memory state back from /proc (R14).
 *
 * Sources, per spec/host-kernel.md "What can be observed":
 *   /proc/PID/maps      VMA boundaries, permissions, offset column (R14.1-R14.5)
 *   /proc/PID/pagemap   bit 63 present, 62 swapped (type 0-4, offset 5-54),
 *                       58 guard region, 56 mapped exactly once, PFN 0-54 (R14.12)
 *   /proc/kpagecount    mapcount of the frame (R14.19)
 *   /proc/kpageflags    ANON 12, SWAPCACHE 13, ZERO_PAGE 24, 34 = PG_anon_exclusive
 * Content words are not read here but by the puppet itself (puppet_peek(),
 * host.h says why /proc/PID/mem would disturb the state).
 *
 * Nothing here writes.  The observer keeps the kpage* files open; the
 * per-process files are opened per call (a puppet's pid is reused only
 * after it is gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_GUARD (1ULL << 58)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN_MASK ((1ULL << 55) - 1)

struct host_observer {
	int kcount, kflags;
	uint64_t *pm;  /* pagemap buffer */
	size_t pm_cap;
	char *maps;    /* maps text buffer */
	size_t maps_cap;
};

struct host_observer *host_observer_new(void)
{
	struct host_observer *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->kcount = open("/proc/kpagecount", O_RDONLY | O_CLOEXEC);
	o->kflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (o->kcount < 0 || o->kflags < 0) {
		host_observer_free(o);
		return NULL;
	}
	return o;
}

void host_observer_free(struct host_observer *o)
{
	if (!o)
		return;
	if (o->kcount >= 0)
		close(o->kcount);
	if (o->kflags >= 0)
		close(o->kflags);
	free(o->pm);
	free(o->maps);
	free(o);
}

/* Read a whole (small, seq_file) /proc text file into a growing buffer. */
static ssize_t slurp(const char *path, char **buf, size_t *cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		if (*cap - len < 4096) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			char *nb = realloc(*buf, ncap);
			if (!nb) {
				close(fd);
				return -ENOMEM;
			}
			*buf = nb;
			*cap = ncap;
		}
		ssize_t n = read(fd, *buf + len, *cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	(*buf)[len] = 0;
	return (ssize_t)len;
}

int host_read_maps(pid_t pid, unsigned long lo, unsigned long hi, struct host_vma **out,
		   size_t *cap, int *total_vmas)
{
	char path[64];
	static __thread char *text;
	static __thread size_t text_cap;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	ssize_t len = slurp(path, &text, &text_cap);
	if (len < 0)
		return (int)len;
	int n = 0, total = 0;
	for (char *l = text; *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = 0;
		unsigned long s, e, off, ino;
		unsigned maj, min;
		char perms[8];
		if (sscanf(l, "%lx-%lx %7s %lx %x:%x %lu", &s, &e, perms, &off, &maj, &min, &ino) == 7) {
			/* [vsyscall] is shown but is no VMA of the mm: not in map_count. */
			if (s < 0x800000000000UL)
				total++;
			if (s >= lo && e <= hi) {
				if ((size_t)n >= *cap) {
					size_t ncap = *cap ? *cap * 2 : 64;
					struct host_vma *nv = realloc(*out, ncap * sizeof(**out));
					if (!nv)
						return -ENOMEM;
					*out = nv;
					*cap = ncap;
				}
				struct host_vma *v = &(*out)[n++];
				v->start = s;
				v->end = e;
				v->offset = off;
				memcpy(v->perms, perms, 4);
				v->perms[4] = 0;
				v->shared_file = ino != 0;
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	if (total_vmas)
		*total_vmas = total;
	return n;
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int host_read_pages(struct host_observer *o, pid_t pid, unsigned long addr, size_t n,
		    struct host_page *out)
{
	char path[64];
	int r = 0;
	if (n > o->pm_cap) {
		uint64_t *nb = realloc(o->pm, n * sizeof(uint64_t));
		if (!nb)
			return -ENOMEM;
		o->pm = nb;
		o->pm_cap = n;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return -errno;
	r = pread_all(pm, o->pm, n * sizeof(uint64_t), (off_t)((addr >> 12) * 8));
	close(pm);
	if (r)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint64_t e = o->pm[i];
		struct host_page *pg = &out[i];
		memset(pg, 0, sizeof(*pg));
		if (e & PM_PRESENT) {
			pg->pfn = e & PM_PFN_MASK;
			pg->excl_mapped = (e & PM_EXCLUSIVE) != 0;
			if (pread_all(o->kflags, &pg->kflags, 8, (off_t)(pg->pfn * 8)) ||
			    pread_all(o->kcount, &pg->mapcount, 8, (off_t)(pg->pfn * 8))) {
				r = -EIO;
				break;
			}
			pg->state = (pg->kflags >> KPF_ZERO_PAGE_BIT) & 1 ? HOST_PAGE_ZERO
									   : HOST_PAGE_PRESENT;
		} else if (e & PM_SWAP) {
			if (e & PM_GUARD) {
				pg->state = HOST_PAGE_GUARD;
			} else {
				pg->state = HOST_PAGE_SWAP;
				uint64_t type = e & 0x1f;
				uint64_t off = (e & PM_PFN_MASK) >> 5;
				pg->swap = (type << 50) | off;
			}
		} else if (e & PM_GUARD) {
			pg->state = HOST_PAGE_GUARD;
		}
	}
	return r;
}

int host_observe_pages(struct host_observer *o, struct puppet *p, unsigned long addr, size_t n,
		       struct host_page *out)
{
	int r = host_read_pages(o, puppet_pid(p), addr, n, out);
	if (r)
		return r;
	uint8_t *want = malloc(n * 2);
	uint64_t *val = malloc(n * sizeof(uint64_t));
	bool any = false;
	if (!want || !val) {
		free(want);
		free(val);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		want[i] = out[i].state == HOST_PAGE_PRESENT || out[i].state == HOST_PAGE_ZERO;
		any |= want[i];
	}
	if (any)
		r = puppet_peek(p, addr, n, want, val, want + n);
	for (size_t i = 0; any && r == 0 && i < n; i++) {
		out[i].content = val[i];
		out[i].content_ok = want[n + i] != 0;
	}
	free(want);
	free(val);
	return r;
}
