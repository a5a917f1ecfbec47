/*
 * host.h - the host-kernel oracle: the same scenario on real processes,
 * read back through /proc (shared/DESIGN.md "The host oracle",
 * shared/spec/host-kernel.md).
 *
 * Three layers, one file each:
 *
 *   host/puppet.c   puppet processes.  One puppet per simulated process,
 *                   driven over a SOCK_SEQPACKET socket with a fixed-size
 *                   binary request/response; `fork` forks the puppet.
 *                   Puppets run without ASLR (personality + re-exec of
 *                   /proc/self/exe) so the scenario arena is empty, and
 *                   are pinned to one CPU so per-CPU LRU batches cannot
 *                   hold hidden folio references (see puppet.c).
 *   host/observe.c  /proc/PID/maps, /proc/PID/pagemap, /proc/kpagecount,
 *                   /proc/kpageflags and /proc/PID/mem (content of
 *                   present pages only: reading never faults).
 *   host/env.c      what this machine offers (root, kpageflags, THP, KSM,
 *                   zram swap, io_uring, UFFDIO_MOVE, zero page on read
 *                   faults) and the global knobs the oracle turns
 *                   (vm.max_map_count, the zram swap device), restored on
 *                   exit.
 *   host/oracle.c   model and host side by side, op by op, compared at
 *                   every line; host/gen.c generates and shrinks random
 *                   scenarios for `anonvm fuzz`.
 *
 * host/ uses the public model API and the scenario layer (script/), never
 * lib/internal.h.
 */
#ifndef ANONVM_HOST_H
#define ANONVM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "anonvm/anonvm.h"

/* ---- puppets (host/puppet.c) ------------------------------------------ */

enum puppet_opcode {
	PUP_HELLO = 1,   /* reply: a[0] = arena empty, val = uffd features */
	PUP_MMAP,        /* a: addr len prot flags */
	PUP_MUNMAP,      /* a: addr len */
	PUP_MPROTECT,    /* a: addr len prot */
	PUP_MREMAP,      /* a: old oldlen newlen flags new */
	PUP_MADVISE,     /* a: addr len advice */
	PUP_MLOCK,       /* a: addr len flags (mlock2) */
	PUP_MUNLOCK,     /* a: addr len */
	PUP_NAME,        /* a: addr len; name (empty = clear) */
	PUP_READ,        /* a: addr; reply val */
	PUP_WRITE,       /* a: addr value */
	PUP_TOUCH,       /* a: addr len write */
	PUP_FORK,        /* new control socket in SCM_RIGHTS; reply ret = child pid */
	PUP_EXIT,        /* no reply: the puppet exits */
	PUP_PIN,         /* a: addr npages slot (io_uring registered buffer) */
	PUP_UNPIN,       /* a: slot */
	PUP_PIN_READ,    /* a: slot index; WRITE_FIXED to a memfd, reply val */
	PUP_PIN_WRITE,   /* a: slot index value; READ_FIXED from a memfd */
	PUP_REF,         /* a: addr npages slot (vmsplice into a pipe) */
	PUP_UNREF,       /* a: slot */
	PUP_REF_READ,    /* a: slot index (tee the pipe, read page i's word) */
	PUP_UFFD_REGISTER,   /* a: addr len mode */
	PUP_UFFD_UNREGISTER, /* a: addr len */
	PUP_UFFD_MOVE,       /* a: dst src len mode; reply val = uffdio_move.move */
	PUP_PEEK,            /* a: addr npages; then a message of npages "want" bytes;
			      * reply: a message of npages words (PEEK_FAILED if unreadable) */
	PUP_PAD,             /* a: number of padding VMAs outside the arena */
};

/* A peeked word that could not be read (PROT_NONE page) is flagged in a side array. */
#define PUPPET_PEEK_MAX 4096


#define PUPPET_SLOTS 64 /* pins, and separately refs, a puppet can hold */

struct puppet_req {
	uint32_t op;
	uint32_t pad;
	uint64_t a[6];
	char name[80];
};

struct puppet_resp {
	int64_t ret;   /* syscall result (>= 0) or -errno; memory access: 0/-AVM_ESIG* */
	uint64_t val;  /* value read, uffdio_move.move, features */
	uint64_t val2;
};

struct puppet;
struct host_env;

/*
 * Start the launcher: a puppet that never touches the arena and exists
 * only to be forked by puppet_spawn().  @cpu >= 0 pins every puppet to
 * that CPU.  Returns: 0 or -errno (and a message in @msg).
 */
int puppet_launcher_start(int cpu, char *msg, size_t msglen);
void puppet_launcher_stop(void);
/* Returns: a fresh puppet with an empty arena, or NULL (errno set). */
struct puppet *puppet_spawn(void);
/* Returns: the forked child of @p, or NULL (errno set). */
struct puppet *puppet_fork(struct puppet *p);
/* Ask @p to exit and wait until its address space is gone.  Frees @p. */
void puppet_exit(struct puppet *p);
/* Kill without asking (cleanup after an error).  Frees @p. */
void puppet_kill(struct puppet *p);
/* Returns: 0 with *rs filled, or -errno (puppet died: -EPIPE). */
int puppet_call(struct puppet *p, const struct puppet_req *rq, struct puppet_resp *rs);
pid_t puppet_pid(const struct puppet *p);
/* Non-arena VMAs of the puppet, measured when it started (host/env.c uses it). */
int puppet_baseline_vmas(const struct puppet *p);
/*
 * Content words of pages [addr, addr + n pages) for which want[i] != 0,
 * read by the puppet itself with plain loads.  Only present pages may be
 * asked for: a load of a non-present page would fault it in.  Observing
 * through /proc/PID/mem is no option: its GUP walk calls
 * folio_mark_accessed(), and a second access queues the folio for
 * activation in a per-CPU batch that holds a reference, which turns the
 * next COW reuse into a copy.  ok[i] = 0 where the load faulted
 * (PROT_NONE).  Returns: 0 or -errno.
 */
int puppet_peek(struct puppet *p, unsigned long addr, size_t n, const uint8_t *want,
		uint64_t *val, uint8_t *ok);

/* Called from a constructor: turns the process into a puppet if asked. */
void puppet_main_if_requested(void);

/* Kernel facts the oracle builds on, checked with puppets alone (host/selftest.c). */
int host_selftest(struct host_env *env, FILE *out);

/* ---- observation (host/observe.c) ------------------------------------- */

struct host_vma {
	unsigned long start, end, offset;
	char perms[5];
	bool shared_file; /* a file/shmem mapping (dev:inode not 0) */
};

enum host_page_state {
	HOST_PAGE_NONE = 0,
	HOST_PAGE_PRESENT,
	HOST_PAGE_ZERO,
	HOST_PAGE_SWAP,
	HOST_PAGE_GUARD,
};

struct host_page {
	enum host_page_state state;
	uint64_t pfn;        /* PRESENT / ZERO */
	uint64_t swap;       /* SWAP: (type << 50) | offset */
	uint64_t kflags;     /* /proc/kpageflags word */
	uint64_t mapcount;   /* /proc/kpagecount */
	uint64_t content;    /* first word, PRESENT/ZERO only */
	bool excl_mapped;    /* pagemap bit 56 */
	bool content_ok;     /* content could be read */
};

#define KPF_ANON_BIT 12
#define KPF_SWAPCACHE_BIT 13
#define KPF_SWAPBACKED_BIT 14
#define KPF_KSM_BIT 21
#define KPF_THP_BIT 22
#define KPF_ZERO_PAGE_BIT 24
#define KPF_ANON_EXCLUSIVE_BIT 34 /* KPF_OWNER_2 = PG_anon_exclusive (host-kernel.md) */

struct host_observer;

/* Returns: an observer (opens /proc/kpagecount, /proc/kpageflags), or NULL. */
struct host_observer *host_observer_new(void);
void host_observer_free(struct host_observer *o);
/*
 * VMAs of @pid inside [lo, hi).  *out is a growing array (caller frees).
 * Returns: number of VMAs, or -errno.
 */
int host_read_maps(pid_t pid, unsigned long lo, unsigned long hi, struct host_vma **out,
		   size_t *cap, int *total_vmas);
/*
 * Pages [addr, addr + n pages) of @pid: state, pfn, kpageflags, kpagecount
 * and, for present pages only, the content word.  Returns: 0 or -errno.
 */
int host_read_pages(struct host_observer *o, pid_t pid, unsigned long addr, size_t n,
		    struct host_page *out);

/* host_read_pages() plus the content word of every present page (puppet_peek()). */
int host_observe_pages(struct host_observer *o, struct puppet *p, unsigned long addr, size_t n,
		       struct host_page *out);

/* ---- environment (host/env.c) ----------------------------------------- */

struct host_env {
	bool root, kpageflags, pagemap_pfn;
	bool thp_ok;          /* THP cannot apply in the arena */
	bool ksm_off;
	bool io_uring;        /* registered buffers work */
	bool uffd_move;       /* UFFD_FEATURE_MOVE */
	bool uffd_sigbus;
	bool anon_name;       /* prctl(PR_SET_VMA_ANON_NAME) works */
	bool read_fault_zero_page; /* read faults map the shared zero page */
	bool swap;            /* a swap device the oracle may use */
	bool swap_is_zram;    /* synchronous: no swap cache on swap-in */
	int baseline_vmas;    /* non-arena VMAs of a puppet */
	unsigned long max_map_count_orig, max_map_count_cur;
	bool map_limit_lowered; /* ANONVM_HOST_MAP_LIMIT applied: restore at the end */
	char why_thp[128], why_ksm[128], why_swap[160], why_io_uring[128], why_uffd[128];
};

/*
 * Probe the machine, start the launcher, set up swap if possible (and
 * remember to tear it down).  Returns: 0, or -errno with a reason in
 * @msg (not root, no /proc/kpageflags: the whole oracle is skipped).
 */
int host_env_init(struct host_env *env, bool want_swap, char *msg, size_t msglen);
/* Undo everything host_env_init() and the padding limits changed (swap, sysctls). */
void host_env_fini(struct host_env *env);
/*
 * Padding VMAs a puppet must hold so its arena gets exactly @model_max
 * VMAs under the host's vm.max_map_count (raised globally if needed).
 * Returns: 0 or -errno.
 */
int host_max_map_padding(struct host_env *env, unsigned long model_max, unsigned long *pad);
/* Write vm.max_map_count (a brief raise while padding; restored by the caller). */
int host_map_limit_write(struct host_env *env, unsigned long value);
void host_print_env(const struct host_env *env, FILE *out);

/* ---- the oracle (host/oracle.c) --------------------------------------- */

enum host_verdict {
	HOST_PASS = 0,
	HOST_DIVERGE = 1,
	HOST_SKIP = 2,
	HOST_ERROR = 3, /* the scenario itself is broken (parse / script error) */
};

struct scenario;

struct host_diff_options {
	bool json;
	bool verbose;
	FILE *out;   /* report of a divergence / skip; NULL = silent */
	const char *policy;
	unsigned long max_op_pages;
	const char *source; /* the scenario text, to quote the diverging line */
	/*
	 * Generated scenarios: a line that cannot run (a handle whose pin
	 * failed, a process whose fork failed) is skipped on both sides
	 * instead of ending the run with ERROR.
	 */
	bool lenient;
};

struct host_diff_result {
	enum host_verdict verdict;
	int line;          /* line of the first divergence / skip */
	size_t op_index;   /* index of that op in the scenario */
	unsigned long ops_run, checkpoints, pages_compared;
	char reason[512];  /* one-line summary */
};

/*
 * Run @sc on the model and on the host side by side, comparing at every
 * line.  Returns: the verdict (also in *res).
 */
enum host_verdict host_diff_scenario(struct host_env *env, const struct scenario *sc,
				     const struct host_diff_options *opt,
				     struct host_diff_result *res);

/* The same in a child process: a model crash (assertion) becomes DIVERGE. */
enum host_verdict host_diff_isolated(struct host_env *env, const struct scenario *sc,
				     const struct host_diff_options *opt,
				     struct host_diff_result *res);

/* ---- random scenarios (host/gen.c) ------------------------------------- */

struct host_gen_options {
	uint64_t seed;
	unsigned int steps;
	unsigned int procs;   /* at most this many live processes (1..8) */
	bool swap, pins, uffd, limits;
};

/* Returns: a malloc'ed scenario text (NUL-terminated), or NULL. */
char *host_gen_scenario(const struct host_gen_options *opt);

#endif /* ANONVM_HOST_H */
