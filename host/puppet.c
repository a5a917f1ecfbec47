/*
 * puppet.c - puppet processes for the host oracle (host/host.h).
 *
 * A puppet is a real process that owns one simulated process's address
 * space on the host kernel.  It sits in a loop reading fixed-size requests
 * (struct puppet_req) from a SOCK_SEQPACKET socket, performs exactly one
 * syscall-level action per request and answers with a struct puppet_resp.
 * It allocates nothing after start-up, so its own VMA count (the
 * "baseline" outside the arena) stays constant; the oracle relies on that
 * to translate the model's vm.max_map_count into the host's.
 *
 * Process tree:
 *
 *   anonvm (controller) --exec--> launcher (puppet 0, never touches the arena)
 *                                   |-- fork --> puppet for `p1 = spawn`
 *                                   |              `-- fork --> `p2 = p1 fork`
 *                                   `-- fork --> puppet for the next spawn
 *
 * The launcher is started by re-executing /proc/self/exe with
 * personality(ADDR_NO_RANDOMIZE), so nothing of the controller's address
 * space (the model's heap) is inherited and the scenario arena
 * [AVM_ARENA_START, AVM_ARENA_END) is empty: without ASLR, libraries and
 * the stack sit just under 0x7ffff8000000 and 0x7ffffffff000.  A
 * constructor (puppet_main_if_requested) intercepts the re-executed
 * binary before main().
 *
 * Every puppet is pinned to one CPU.  Why: a freshly faulted folio sits in
 * the faulting CPU's LRU-add batch holding an extra reference until the
 * batch drains.  do_wp_page() and MADV_PAGEOUT drain only the local CPU's
 * batch, so a fault on one CPU followed by a write or a pageout on another
 * would see refcount 2 and copy instead of reuse (or skip the page): a
 * timing artefact, not kernel semantics.  On one CPU the drain always
 * finds the batch.
 *
 * Pins: one io_uring per puppet, created at start (its ring mappings are
 * part of the baseline), with a sparse registered-buffer table; a pin is
 * IORING_REGISTER_BUFFERS_UPDATE of one slot (FOLL_PIN | FOLL_WRITE |
 * FOLL_LONGTERM on every page), an unpin clears the slot.  Reads and
 * writes through a pin are WRITE_FIXED / READ_FIXED against a memfd, so
 * they touch the pinned frames, never the page tables.
 * References: one pipe per set, filled by vmsplice() (FOLL_GET).
 *
 * After fork the child drops everything per-process it inherited (the
 * parent's ring and its pins, the reference pipes, the userfaultfd) and
 * builds its own ring, so it has the parent's baseline.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

/* Not in the installed 6.1 uapi headers (include/uapi/linux/userfaultfd.h, 6.8+). */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PUPPET_ENV "ANONVM_PUPPET_FD"
#define PAGE 4096UL

/* ==== the puppet side =================================================== */

/* All puppet state is static: a puppet is a whole process. */
static int ctl = -1;
static int memfd = -1;
static int uffd = -1;
static uint64_t uffd_features;

static struct {
	int fd;
	void *sq_ring, *sqes;
	size_t sq_ring_sz, sqes_sz;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	uint64_t pin_addr[PUPPET_SLOTS];
	bool ok;
} ring = { .fd = -1 };

static struct {
	int rd, wr;
	uint64_t npages;
} refs[PUPPET_SLOTS];

static sigjmp_buf access_jb;
static volatile sig_atomic_t in_access;

static void access_signal(int sig)
{
	if (in_access)
		siglongjmp(access_jb, sig);
	_exit(100 + sig);
}

static long sys_ret(long r)
{
	return r < 0 ? -errno : r;
}

static int io_uring_setup_raw(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int io_uring_register_raw(int fd, unsigned op, void *arg, unsigned nr)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static int io_uring_enter_raw(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static void ring_close(void)
{
	if (ring.sq_ring)
		munmap(ring.sq_ring, ring.sq_ring_sz);
	if (ring.sqes)
		munmap(ring.sqes, ring.sqes_sz);
	if (ring.fd >= 0)
		close(ring.fd);
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
}

/*
 * One small ring with a sparse buffer table of PUPPET_SLOTS entries.
 * Failure is not fatal: pins then answer -ENOSYS and the oracle skips.
 */
static void ring_open(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int fd = io_uring_setup_raw(4, &p);
	if (fd < 0)
		return;
	ring.fd = fd;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP))
		goto fail;
	size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	ring.sq_ring_sz = sq_sz > cq_sz ? sq_sz : cq_sz;
	/*
	 * io_uring refuses caller-chosen addresses.  In the launcher this runs
	 * before the gaps above the arena are filled; in a forked child the
	 * parent's ring mappings were just unmapped, and the top-down search
	 * finds exactly those holes again (nothing else is free above the
	 * arena), so the baseline layout is the same in every puppet.
	 */
	ring.sq_ring = mmap(NULL, ring.sq_ring_sz, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (ring.sq_ring == MAP_FAILED) {
		ring.sq_ring = NULL;
		goto fail;
	}
	ring.sqes_sz = p.sq_entries * sizeof(struct io_uring_sqe);
	ring.sqes = mmap(NULL, ring.sqes_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			 IORING_OFF_SQES);
	if (ring.sqes == MAP_FAILED) {
		ring.sqes = NULL;
		goto fail;
	}
	char *sq = ring.sq_ring;
	ring.sq_head = (unsigned *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	ring.sq_array = (unsigned *)(sq + p.sq_off.array);
	ring.cq_head = (unsigned *)(sq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(sq + p.cq_off.tail);
	ring.cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);

	struct io_uring_rsrc_register reg;
	memset(&reg, 0, sizeof(reg));
	reg.nr = PUPPET_SLOTS;
	reg.flags = IORING_RSRC_REGISTER_SPARSE;
	if (io_uring_register_raw(fd, IORING_REGISTER_BUFFERS2, &reg, sizeof(reg)) < 0)
		goto fail;
	ring.ok = true;
	return;
fail:
	ring_close();
}

/* Submit one fixed-buffer read/write and wait for it.  Returns: cqe res. */
static int ring_rw_fixed(int opcode, unsigned slot, uint64_t addr, unsigned len)
{
	unsigned tail = *ring.sq_tail;
	unsigned idx = tail & *ring.sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)ring.sqes + idx;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = (uint8_t)opcode;
	sqe->fd = memfd;
	sqe->off = 0;
	sqe->addr = addr;
	sqe->len = len;
	sqe->buf_index = (uint16_t)slot;
	ring.sq_array[idx] = idx;
	__atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
	int r = io_uring_enter_raw(ring.fd, 1, 1, IORING_ENTER_GETEVENTS);
	if (r < 0)
		return -errno;
	unsigned head = __atomic_load_n(ring.cq_head, __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE))
		return -EIO;
	int res = ring.cqes[head & *ring.cq_mask].res;
	__atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static long do_pin(uint64_t addr, uint64_t npages, unsigned slot)
{
	if (!ring.ok)
		return -ENOSYS;
	if (slot >= PUPPET_SLOTS)
		return -EINVAL;
	struct iovec iov = { .iov_base = (void *)addr, .iov_len = npages * PAGE };
	struct io_uring_rsrc_update2 up;
	memset(&up, 0, sizeof(up));
	up.offset = slot;
	up.data = (uint64_t)(uintptr_t)&iov;
	up.nr = 1;
	int r = io_uring_register_raw(ring.fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up));
	if (r < 0)
		return -errno;
	ring.pin_addr[slot] = addr;
	return 0;
}

static long do_unpin(unsigned slot)
{
	if (!ring.ok || slot >= PUPPET_SLOTS)
		return -EINVAL;
	struct iovec iov = { .iov_base = NULL, .iov_len = 0 };
	struct io_uring_rsrc_update2 up;
	memset(&up, 0, sizeof(up));
	up.offset = slot;
	up.data = (uint64_t)(uintptr_t)&iov;
	up.nr = 1;
	int r = io_uring_register_raw(ring.fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up));
	return r < 0 ? -errno : 0;
}

static long do_pin_read(unsigned slot, uint64_t index, uint64_t *val)
{
	if (!ring.ok || slot >= PUPPET_SLOTS || memfd < 0)
		return -EINVAL;
	int r = ring_rw_fixed(IORING_OP_WRITE_FIXED, slot, ring.pin_addr[slot] + index * PAGE, 8);
	if (r != 8)
		return r < 0 ? r : -EIO;
	if (pread(memfd, val, 8, 0) != 8)
		return -errno;
	return 0;
}

static long do_pin_write(unsigned slot, uint64_t index, uint64_t v)
{
	if (!ring.ok || slot >= PUPPET_SLOTS || memfd < 0)
		return -EINVAL;
	if (pwrite(memfd, &v, 8, 0) != 8)
		return -errno;
	int r = ring_rw_fixed(IORING_OP_READ_FIXED, slot, ring.pin_addr[slot] + index * PAGE, 8);
	if (r != 8)
		return r < 0 ? r : -EIO;
	return 0;
}

static void ref_drop(unsigned slot)
{
	if (refs[slot].rd > 0)
		close(refs[slot].rd);
	if (refs[slot].wr > 0)
		close(refs[slot].wr);
	refs[slot].rd = refs[slot].wr = 0;
	refs[slot].npages = 0;
}

/*
 * vmsplice() takes a reference on every page (FOLL_GET, faulting them in
 * as a read would).  The model's avm_get_ref is all-or-nothing; a partial
 * splice is undone so both sides end the same way.
 */
static long do_ref(uint64_t addr, uint64_t npages, unsigned slot)
{
	if (slot >= PUPPET_SLOTS || npages == 0 || npages > 256)
		return -EINVAL;
	ref_drop(slot);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	refs[slot].rd = fds[0];
	refs[slot].wr = fds[1];
	if (npages > 16 && fcntl(fds[1], F_SETPIPE_SZ, (int)(npages * PAGE)) < 0) {
		long e = -errno;
		ref_drop(slot);
		return e;
	}
	struct iovec iov = { .iov_base = (void *)addr, .iov_len = npages * PAGE };
	ssize_t n = vmsplice(fds[1], &iov, 1, SPLICE_F_NONBLOCK);
	if (n != (ssize_t)(npages * PAGE)) {
		long e = n < 0 ? -errno : -EFAULT;
		ref_drop(slot);
		return e;
	}
	refs[slot].npages = npages;
	return 0;
}

/* Page @index of a reference set, read by tee()ing the pipe (not consumed). */
static long do_ref_read(unsigned slot, uint64_t index, uint64_t *val)
{
	if (slot >= PUPPET_SLOTS || !refs[slot].rd || index >= refs[slot].npages)
		return -EINVAL;
	int t[2];
	if (pipe2(t, O_CLOEXEC) < 0)
		return -errno;
	long r = 0;
	size_t want = (size_t)(index + 1) * PAGE;
	if (refs[slot].npages > 16 && fcntl(t[1], F_SETPIPE_SZ, (int)(refs[slot].npages * PAGE)) < 0) {
		r = -errno;
		goto out;
	}
	ssize_t n = tee(refs[slot].rd, t[1], want, SPLICE_F_NONBLOCK);
	if (n != (ssize_t)want) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	static char buf[PAGE];
	for (uint64_t i = 0; i <= index; i++) {
		if (read(t[0], buf, PAGE) != (ssize_t)PAGE) {
			r = -EIO;
			goto out;
		}
	}
	memcpy(val, buf, 8);
out:
	close(t[0]);
	close(t[1]);
	return r;
}

static long uffd_open(void)
{
	if (uffd >= 0)
		return 0;
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	struct uffdio_api api;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MOVE;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		/* Retry without MOVE so registration still works; moves fail. */
		close(fd);
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (fd < 0)
			return -errno;
		memset(&api, 0, sizeof(api));
		api.api = UFFD_API;
		api.features = UFFD_FEATURE_SIGBUS;
		if (ioctl(fd, UFFDIO_API, &api) < 0) {
			long e = -errno;
			close(fd);
			return e;
		}
	}
	uffd = fd;
	uffd_features = api.features;
	return 0;
}

/*
 * One word access at @addr, the way a user load or store would do it.
 * mode 0 = load, 1 = store of *val, 2 = locked add of 0 (a store that
 * keeps the content: touch with write semantics).
 */
__attribute__((noinline, no_sanitize("address")))
static long access_word(uint64_t addr, int mode, uint64_t *val)
{
	volatile uint64_t *p = (volatile uint64_t *)addr;
	int sig = sigsetjmp(access_jb, 1);
	if (sig) {
		in_access = 0;
		return sig == SIGBUS ? -AVM_ESIGBUS : -AVM_ESIGSEGV;
	}
	in_access = 1;
	if (mode == 0)
		*val = *p;
	else if (mode == 1)
		*p = *val;
	else
		__atomic_fetch_add((uint64_t *)addr, 0, __ATOMIC_RELAXED);
	in_access = 0;
	return 0;
}

static long do_touch(uint64_t addr, uint64_t len, bool write)
{
	for (uint64_t a = addr & ~(PAGE - 1); a < addr + len; a += PAGE) {
		uint64_t v;
		long r = access_word(a, write ? 2 : 0, &v);
		if (r)
			return r;
	}
	return 0;
}

static int send_resp(long ret, uint64_t val, uint64_t val2)
{
	struct puppet_resp rs = { .ret = ret, .val = val, .val2 = val2 };
	return send(ctl, &rs, sizeof(rs), MSG_NOSIGNAL) == (ssize_t)sizeof(rs) ? 0 : -1;
}

/* This process's /proc/self/maps as a string (a static buffer), or NULL. */
static char *read_self_maps(void)
{
	static char buf[65536];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	return buf;
}

static bool arena_empty(void)
{
	char *buf = read_self_maps();
	if (!buf)
		return false;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s = strtoul(l, NULL, 16);
		char *dash = strchr(l, '-');
		unsigned long e = dash ? strtoul(dash + 1, NULL, 16) : 0;
		if (s < AVM_ARENA_END && e > AVM_ARENA_START)
			return false;
	}
	return true;
}

/*
 * Fill every gap between the arena's end and the stack with PROT_NONE
 * reservations.  The kernel's top-down search (mmap without an address,
 * mremap MAYMOVE) then finds its first fit just below AVM_ARENA_END, the
 * way the model places things, so those calls run unchanged on the host
 * and their placement is compared too.  (Converting them to fixed
 * addresses would change their checks: a MREMAP_FIXED move has a stricter
 * map_count test than a MAYMOVE move.)  Ends 8 MiB under the stack, well
 * clear of its guard gap; mmap_base, the top of the search, is lower.
 */
static uint64_t reserve_top;

static void fill_gaps_above_arena(void)
{
	char *buf = read_self_maps();
	if (!buf)
		return;
	unsigned long starts[256], ends[256], stack = 0;
	int nv = 0;
	for (char *l = buf; *l && nv < 256;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = 0;
		char *dash = strchr(l, '-');
		if (dash) {
			starts[nv] = strtoul(l, NULL, 16);
			ends[nv] = strtoul(dash + 1, NULL, 16);
			if (strstr(l, "[stack]"))
				stack = starts[nv];
			nv++;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	if (!stack)
		return;
	unsigned long limit = stack - (8UL << 20), prev_end = AVM_ARENA_END;
	for (int i = 0; i <= nv; i++) {
		unsigned long s = i < nv ? starts[i] : limit;
		if (s > limit)
			s = limit;
		if (s > prev_end &&
		    mmap((void *)prev_end, s - prev_end, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
			 0) == (void *)prev_end &&
		    prev_end == AVM_ARENA_END)
			reserve_top = s;
		if (i < nv && ends[i] > prev_end)
			prev_end = ends[i];
		if (prev_end >= limit)
			break;
	}
}

/* What the child of a puppet fork drops before it answers (see file header). */
static void child_reset(int newctl)
{
	close(ctl);
	ctl = newctl;
	for (unsigned i = 0; i < PUPPET_SLOTS; i++)
		ref_drop(i);
	ring_close();
	if (uffd >= 0)
		close(uffd);
	uffd = -1;
	uffd_features = 0;
	if (memfd >= 0)
		close(memfd);
	memfd = memfd_create("anonvm-pin", MFD_CLOEXEC);
	ring_open();
}

static void do_fork(void)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	/* The request itself was already read; the fd comes in a second message. */
	struct puppet_req dummy;
	struct iovec iov = { .iov_base = &dummy, .iov_len = sizeof(dummy) };
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC) <= 0) {
		send_resp(-EIO, 0, 0);
		return;
	}
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		send_resp(-EIO, 0, 0);
		return;
	}
	int newctl;
	memcpy(&newctl, CMSG_DATA(cm), sizeof(int));
	pid_t pid = fork();
	if (pid == 0) {
		child_reset(newctl);
		send_resp(0, arena_empty(), ring.ok);
		return;
	}
	close(newctl);
	send_resp(pid < 0 ? -errno : pid, 0, 0);
}

/* PUP_PEEK: plain loads of the pages the controller says are present. */
static void do_peek(uint64_t addr, uint64_t n)
{
	static uint8_t want[PUPPET_PEEK_MAX];
	static struct {
		uint64_t val[PUPPET_PEEK_MAX];
		uint8_t ok[PUPPET_PEEK_MAX];
	} out;
	if (n > PUPPET_PEEK_MAX || recv(ctl, want, n, 0) != (ssize_t)n) {
		send_resp(-EINVAL, 0, 0);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		out.val[i] = 0;
		out.ok[i] = want[i] && access_word(addr + i * PAGE, 0, &out.val[i]) == 0;
	}
	send_resp(0, 0, 0);
	send(ctl, &out, sizeof(out), MSG_NOSIGNAL);
}

/*
 * PUP_PAD: hold exactly @want padding VMAs outside the arena.  The oracle
 * emulates a small vm.max_map_count this way instead of lowering the
 * global sysctl, which would break every other process on the machine.
 *
 * The pads are carved out of the top of the PROT_NONE reservation that
 * fills the space above the arena (fill_gaps_above_arena()): one page
 * each, alternating PROT_READ and PROT_READ|PROT_WRITE so neighbours never
 * merge, ending where the reservation ends (at a file mapping, which no
 * anonymous pad merges with).  k pads add exactly k VMAs; giving a pad
 * back maps PROT_NONE over it, which merges into the reservation again,
 * so no hole ever opens above the arena.  Being above the arena, they
 * also come after it in /proc/PID/maps, which the oracle stops reading at
 * the arena's end.
 */

static long do_pad(uint64_t want)
{
	static uint64_t pad;
	if (!reserve_top || want > (reserve_top - AVM_ARENA_END) / PAGE - 2)
		return -ENOSPC;
	while (pad < want) {
		void *a = (void *)(reserve_top - (pad + 1) * PAGE);
		/* PROT_READ / PROT_EXEC alternate: never writable, so never accounted. */
		int prot = pad & 1 ? PROT_READ | PROT_EXEC : PROT_READ;
		if (mmap(a, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) != a)
			return -errno;
		pad++;
	}
	while (pad > want) {
		/*
		 * mprotect(PROT_NONE) of the whole pad: no split, so no
		 * map_count check (the process may be above the limit, which
		 * a limit lowered under its VMAs allows), and the pad merges
		 * back into the reservation below it.  munmap + mmap would
		 * fail to refill above the limit and leave a hole where the
		 * kernel would then place mappings.
		 */
		void *a = (void *)(reserve_top - pad * PAGE);
		if (mprotect(a, PAGE, PROT_NONE) < 0)
			return -errno;
		pad--;
	}
	return (long)pad;
}

/*
 * Drain this CPU's folio batches (LRU add, mlock/munlock, activate...)
 * before every request.  Those batches hold a folio reference until they
 * are processed, and do_wp_page() drains them only for a folio that is
 * not on the LRU: a page munlocked by an exiting process sits in the
 * mlock batch while still on the LRU, so the next COW fault on it would
 * see refcount 2 and copy.  The model has no batches; the oracle compares
 * the drained state.  MADV_COLD on a page of our own calls
 * lru_add_drain() (local CPU, and every puppet runs on the same CPU).
 */
static char drain_page[4096] __attribute__((aligned(4096)));

static void drain_batches(void)
{
	madvise(drain_page, sizeof(drain_page), MADV_COLD);
}

static void serve(void)
{
	struct puppet_req rq;
	for (;;) {
		ssize_t n = recv(ctl, &rq, sizeof(rq), 0);
		if (n <= 0)
			_exit(0); /* controller gone */
		if (n != (ssize_t)sizeof(rq))
			_exit(3);
		if (rq.op != PUP_PEEK)
			drain_batches();
		long r = 0;
		uint64_t v = 0, v2 = 0;
		const uint64_t *a = rq.a;
		switch ((enum puppet_opcode)rq.op) {
		case PUP_HELLO:
			r = 0;
			v = arena_empty();
			v2 = ring.ok;
			break;
		/*
		 * Raw syscalls throughout: sanitizer runtimes intercept some libc
		 * wrappers (ASan turns mlock/munlock into no-ops returning 0).
		 */
		case PUP_MMAP:
			r = sys_ret(syscall(SYS_mmap, a[0], a[1], a[2], a[3], -1L, 0L));
			break;
		case PUP_MUNMAP:
			r = sys_ret(syscall(SYS_munmap, a[0], a[1]));
			break;
		case PUP_MPROTECT:
			r = sys_ret(syscall(SYS_mprotect, a[0], a[1], a[2]));
			break;
		case PUP_MREMAP:
			r = sys_ret(syscall(SYS_mremap, a[0], a[1], a[2], a[3], a[4]));
			break;
		case PUP_MADVISE:
			r = sys_ret(syscall(SYS_madvise, a[0], a[1], a[2]));
			break;
		case PUP_MLOCK:
			r = sys_ret(syscall(SYS_mlock2, a[0], a[1], a[2]));
			break;
		case PUP_MUNLOCK:
			r = sys_ret(syscall(SYS_munlock, a[0], a[1]));
			break;
		case PUP_NAME:
			rq.name[sizeof(rq.name) - 1] = 0;
			r = sys_ret(prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a[0], a[1],
					  rq.name[0] ? rq.name : NULL));
			break;
		case PUP_READ:
			r = access_word(a[0], 0, &v);
			break;
		case PUP_WRITE:
			v = a[1];
			r = access_word(a[0], 1, &v);
			break;
		case PUP_TOUCH:
			r = do_touch(a[0], a[1], a[2] != 0);
			break;
		case PUP_FORK:
			do_fork();
			continue;
		case PUP_PEEK:
			do_peek(a[0], a[1]);
			continue;
		case PUP_PAD:
			r = do_pad(a[0]);
			break;
		case PUP_EXIT:
			_exit(0);
		case PUP_PIN:
			r = do_pin(a[0], a[1], (unsigned)a[2]);
			break;
		case PUP_UNPIN:
			r = do_unpin((unsigned)a[0]);
			break;
		case PUP_PIN_READ:
			r = do_pin_read((unsigned)a[0], a[1], &v);
			break;
		case PUP_PIN_WRITE:
			r = do_pin_write((unsigned)a[0], a[1], a[2]);
			break;
		case PUP_REF:
			r = do_ref(a[0], a[1], (unsigned)a[2]);
			break;
		case PUP_UNREF:
			if (a[0] < PUPPET_SLOTS)
				ref_drop((unsigned)a[0]);
			else
				r = -EINVAL;
			break;
		case PUP_REF_READ:
			r = do_ref_read((unsigned)a[0], a[1], &v);
			break;
		case PUP_UFFD_REGISTER: {
			r = uffd_open();
			if (r)
				break;
			struct uffdio_register reg;
			memset(&reg, 0, sizeof(reg));
			reg.range.start = a[0];
			reg.range.len = a[1];
			reg.mode = a[2] ? a[2] : UFFDIO_REGISTER_MODE_MISSING;
			r = sys_ret(ioctl(uffd, UFFDIO_REGISTER, &reg));
			v = uffd_features;
			break;
		}
		case PUP_UFFD_UNREGISTER: {
			r = uffd_open();
			if (r)
				break;
			struct uffdio_range rg = { .start = a[0], .len = a[1] };
			r = sys_ret(ioctl(uffd, UFFDIO_UNREGISTER, &rg));
			break;
		}
		case PUP_UFFD_MOVE: {
			r = uffd_open();
			if (r)
				break;
			if (!(uffd_features & UFFD_FEATURE_MOVE)) {
				r = -ENOTTY;
				break;
			}
			struct uffdio_move mv;
			memset(&mv, 0, sizeof(mv));
			mv.dst = a[0];
			mv.src = a[1];
			mv.len = a[2];
			mv.mode = a[3];
			r = sys_ret(ioctl(uffd, UFFDIO_MOVE, &mv));
			v = (uint64_t)mv.move;
			break;
		}
		default:
			r = -ENOSYS;
			break;
		}
		if (send_resp(r, v, v2) < 0)
			_exit(0);
	}
}

/*
 * Runs before main() (constructor below).  A process started with
 * ANONVM_PUPPET_FD in its environment is the launcher; it never returns.
 */
void puppet_main_if_requested(void)
{
	const char *s = getenv(PUPPET_ENV);
	if (!s)
		return;
	ctl = atoi(s);
	/* Close everything else the controller had open. */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != ctl)
			close(fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = access_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGCHLD, SIG_IGN); /* puppet children are reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * MMF_DISABLE_THP for the whole mm (inherited by fork): no THP in the
	 * arena without touching VMA flags, which would change merging.
	 */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* launcher only; fork clears it */
	memfd = memfd_create("anonvm-pin", MFD_CLOEXEC);
	ring_open();
	fill_gaps_above_arena();
	drain_page[0] = 1;
	serve();
	_exit(0);
}

__attribute__((constructor)) static void puppet_ctor(void)
{
	puppet_main_if_requested();
}

/* ==== the controller side ================================================ */

struct puppet {
	pid_t pid;
	int sock;
	int pidfd;
	int baseline;
	bool direct_child; /* forked by the controller: reap with waitpid */
};

static struct puppet *launcher;

static int count_vmas_outside_arena(pid_t pid)
{
	struct host_vma *v = NULL;
	size_t cap = 0;
	int total = 0;
	int n = host_read_maps(pid, AVM_ARENA_START, AVM_ARENA_END, &v, &cap, &total);
	free(v);
	return n < 0 ? n : total - n;
}

static int pidfd_open_raw(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int recv_resp(struct puppet *p, struct puppet_resp *rs)
{
	for (;;) {
		ssize_t n = recv(p->sock, rs, sizeof(*rs), 0);
		if (n == (ssize_t)sizeof(*rs))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -EPIPE;
	}
}

int puppet_call(struct puppet *p, const struct puppet_req *rq, struct puppet_resp *rs)
{
	if (send(p->sock, rq, sizeof(*rq), MSG_NOSIGNAL) != (ssize_t)sizeof(*rq))
		return -EPIPE;
	return recv_resp(p, rs);
}

int puppet_peek(struct puppet *p, unsigned long addr, size_t n, const uint8_t *want,
		uint64_t *val, uint8_t *ok)
{
	static struct {
		uint64_t val[PUPPET_PEEK_MAX];
		uint8_t ok[PUPPET_PEEK_MAX];
	} in;
	while (n > 0) {
		size_t k = n > PUPPET_PEEK_MAX ? PUPPET_PEEK_MAX : n;
		struct puppet_req rq = { .op = PUP_PEEK, .a = { addr, k } };
		struct puppet_resp rs;
		if (send(p->sock, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq) ||
		    send(p->sock, want, k, MSG_NOSIGNAL) != (ssize_t)k || recv_resp(p, &rs) < 0)
			return -EPIPE;
		if (rs.ret)
			return (int)rs.ret;
		if (recv(p->sock, &in, sizeof(in), 0) != (ssize_t)sizeof(in))
			return -EPIPE;
		memcpy(val, in.val, k * sizeof(uint64_t));
		memcpy(ok, in.ok, k);
		n -= k;
		addr += k * PAGE;
		want += k;
		val += k;
		ok += k;
	}
	return 0;
}

pid_t puppet_pid(const struct puppet *p)
{
	return p->pid;
}

int puppet_baseline_vmas(const struct puppet *p)
{
	return p->baseline;
}

static struct puppet *puppet_new(pid_t pid, int sock, bool direct)
{
	struct puppet *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->sock = sock;
	p->direct_child = direct;
	p->pidfd = pidfd_open_raw(pid);
	return p;
}

int puppet_launcher_start(int cpu, char *msg, size_t msglen)
{
	if (launcher)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(msg, msglen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		char num[16];
		close(sv[0]);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(num, sizeof(num), "%d", sv[1]);
		setenv(PUPPET_ENV, num, 1);
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		personality(ADDR_NO_RANDOMIZE);
		char *argv[] = { (char *)"anonvm-puppet", NULL };
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(sv[1]);
	launcher = puppet_new(pid, sv[0], true);
	if (!launcher) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -ENOMEM;
	}
	struct puppet_req rq = { .op = PUP_HELLO };
	struct puppet_resp rs;
	if (puppet_call(launcher, &rq, &rs) < 0) {
		snprintf(msg, msglen, "launcher did not answer");
		puppet_kill(launcher);
		launcher = NULL;
		return -EPIPE;
	}
	if (!rs.val) {
		snprintf(msg, msglen, "arena [%#lx, %#lx) not empty in a puppet (ASLR?)",
			 AVM_ARENA_START, AVM_ARENA_END);
		puppet_kill(launcher);
		launcher = NULL;
		return -EEXIST;
	}
	launcher->baseline = count_vmas_outside_arena(pid);
	return 0;
}

void puppet_launcher_stop(void)
{
	if (!launcher)
		return;
	puppet_exit(launcher);
	launcher = NULL;
}

static struct puppet *fork_of(struct puppet *p, bool direct)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	struct puppet_req rq = { .op = PUP_FORK };
	struct puppet_resp rs, hello;
	if (send(p->sock, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq))
		goto fail;
	/* Second message: carries the child's end of the new socket. */
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = { .iov_base = &rq, .iov_len = sizeof(rq) };
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sv[1], sizeof(int));
	if (sendmsg(p->sock, &mh, MSG_NOSIGNAL) < 0)
		goto fail;
	close(sv[1]);
	sv[1] = -1;
	if (recv_resp(p, &rs) < 0 || rs.ret <= 0) {
		errno = rs.ret < 0 ? (int)-rs.ret : EPIPE;
		goto fail;
	}
	struct puppet *c = puppet_new((pid_t)rs.ret, sv[0], direct);
	if (!c)
		goto fail;
	if (recv_resp(c, &hello) < 0) {
		puppet_kill(c);
		errno = EPIPE;
		return NULL;
	}
	c->baseline = p->baseline;
	return c;
fail:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return NULL;
}

struct puppet *puppet_spawn(void)
{
	if (!launcher) {
		errno = ESRCH;
		return NULL;
	}
	/* The launcher's children are not ours: the launcher reaps them. */
	return fork_of(launcher, false);
}

struct puppet *puppet_fork(struct puppet *p)
{
	return fork_of(p, false);
}

static void wait_gone(struct puppet *p)
{
	if (p->pidfd >= 0) {
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
		while (poll(&pfd, 1, 5000) < 0 && errno == EINTR)
			;
		close(p->pidfd);
	}
	if (p->direct_child)
		waitpid(p->pid, NULL, 0);
	close(p->sock);
	free(p);
}

void puppet_exit(struct puppet *p)
{
	if (!p)
		return;
	struct puppet_req rq = { .op = PUP_EXIT };
	if (send(p->sock, &rq, sizeof(rq), MSG_NOSIGNAL) < 0)
		kill(p->pid, SIGKILL);
	wait_gone(p);
}

void puppet_kill(struct puppet *p)
{
	if (!p)
		return;
	kill(p->pid, SIGKILL);
	wait_gone(p);
}
