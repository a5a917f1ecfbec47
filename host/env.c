/*
 * env.c - what this machine offers the oracle, and the global knobs it
 * turns (spec/host-kernel.md "Configuration that changes behaviour").
 *
 * Detect, never assume (host-kernel.md, first paragraph): every fact the
 * comparison depends on is measured here at start-up, and a missing
 * precondition becomes a SKIP reason, not a pass:
 *
 *   root, /proc/kpageflags, PFNs in pagemap   whole oracle (SKIP)
 *   THP applicable in the arena               whole oracle (SKIP)
 *   KSM running                               whole oracle (SKIP)
 *   io_uring registered buffers               scenarios with pins (SKIP)
 *   UFFD_FEATURE_MOVE / SIGBUS                scenarios with uffd ops (SKIP)
 *   a swap device                             scenarios with pageout (SKIP)
 *   read faults map the zero page             configures the model world
 *
 * Global state changed (and restored by host_env_fini(), also from an
 * atexit handler and on SIGINT/SIGTERM):
 *   - the zram swap device (/sys/block/zram0), only if no swap was active;
 *     shared between concurrent oracle runs through a lock file: the last
 *     one out tears it down;
 *   - vm.max_map_count, only ever raised (when a scenario asks for more
 *     than the default); smaller limits are emulated per puppet with
 *     padding VMAs (host_max_map_padding()).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

#define LOCK_SWAP "/run/anonvm-oracle-swap.lock"
#define ZRAM "/sys/block/zram0"
#define ZRAM_SIZE "1G"

static struct host_env *live_env; /* for the atexit / signal cleanup */
static int swap_lock = -1;
static bool swap_ours;          /* this run set the zram device up */

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -e;
}

/* The bracketed choice of a sysfs selector ("always [madvise] never"). */
static void selected(const char *text, char *out, size_t len)
{
	const char *b = strchr(text, '[');
	const char *e = b ? strchr(b, ']') : NULL;
	if (!b || !e || (size_t)(e - b) >= len) {
		snprintf(out, len, "%.40s", text);
		return;
	}
	memcpy(out, b + 1, (size_t)(e - b - 1));
	out[e - b - 1] = 0;
}

static int run_quiet(const char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static bool swap_active(void)
{
	char buf[4096];
	if (read_text("/proc/swaps", buf, sizeof(buf)))
		return false;
	return strchr(buf, '\n') != NULL; /* more than the header line */
}

static bool zram_in_swaps(void)
{
	char buf[4096];
	return read_text("/proc/swaps", buf, sizeof(buf)) == 0 && strstr(buf, "/dev/zram0");
}

/*
 * zram as the swap device (synchronous: a swap-in whose slot count is 1
 * bypasses the swap cache, R8.15).  Shared lock while in use; the setup
 * and teardown take it exclusively.
 */
/*
 * Swap readahead off (vm.page-cluster = 0): a swap-in through the swap
 * cache would otherwise read neighbouring slots into the swap cache by an
 * adaptive heuristic (swap_vma_readahead()), and a later fault on such a
 * neighbour maps it from the swap cache, not exclusive, still cached.  The
 * model has no readahead.  The original value is kept in the lock file so
 * the last oracle run out restores it (swap_teardown()).
 */
static void page_cluster_off(void)
{
	char cur[32], saved[32];
	if (read_text("/proc/sys/vm/page-cluster", cur, sizeof(cur)) || !strcmp(cur, "0"))
		return;
	ssize_t n = pread(swap_lock, saved, sizeof(saved) - 1, 0);
	if (n <= 0 && pwrite(swap_lock, cur, strlen(cur), 0) < 0)
		return;
	write_text("/proc/sys/vm/page-cluster", "0");
}

static void swap_setup(struct host_env *env)
{
	char buf[4096];
	swap_lock = open(LOCK_SWAP, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (swap_lock < 0) {
		snprintf(env->why_swap, sizeof(env->why_swap), "cannot open %s", LOCK_SWAP);
		return;
	}
	flock(swap_lock, LOCK_SH);
	page_cluster_off();
	if (swap_active()) {
		/*
		 * Someone's swap (ours from a concurrent run, or the machine's):
		 * use it.  Only zram is synchronous (no swap cache on swap-in);
		 * with anything else in /proc/swaps the model would need
		 * swap_synchronous = false, which the scenario layer does not
		 * expose: skip swap checks then.
		 */
		read_text("/proc/swaps", buf, sizeof(buf));
		bool all_zram = true;
		for (char *l = strchr(buf, '\n'); l && l[1]; l = strchr(l + 1, '\n'))
			if (strncmp(l + 1, "/dev/zram", 9) != 0)
				all_zram = false;
		if (all_zram) {
			env->swap = env->swap_is_zram = true;
		} else {
			snprintf(env->why_swap, sizeof(env->why_swap),
				 "a non-zram swap device is active; swap checks skipped");
		}
		return;
	}
	/* No swap at all: set up zram0, unless another run holds the lock. */
	if (flock(swap_lock, LOCK_EX | LOCK_NB) < 0) {
		snprintf(env->why_swap, sizeof(env->why_swap),
			 "no swap active and another oracle run holds %s", LOCK_SWAP);
		return;
	}
	if (access(ZRAM "/disksize", W_OK) != 0) {
		snprintf(env->why_swap, sizeof(env->why_swap), "no zram device (%s)", ZRAM);
	} else {
		char ds[64] = "";
		read_text(ZRAM "/disksize", ds, sizeof(ds));
		if (strcmp(ds, "0") != 0)
			write_text(ZRAM "/reset", "1");
		const char *mk[] = { "mkswap", "/dev/zram0", NULL };
		const char *on[] = { "swapon", "/dev/zram0", NULL };
		if (write_text(ZRAM "/disksize", ZRAM_SIZE) || run_quiet(mk) || run_quiet(on)) {
			snprintf(env->why_swap, sizeof(env->why_swap),
				 "zram swap setup failed (disksize/mkswap/swapon)");
			write_text(ZRAM "/reset", "1");
		} else {
			env->swap = env->swap_is_zram = true;
			swap_ours = true;
		}
	}
	flock(swap_lock, LOCK_SH); /* downgrade: others may share the device */
}

static void swap_teardown(void)
{
	if (swap_lock < 0)
		return;
	/* Last user out removes the device (whoever set it up) and restores page-cluster. */
	if (flock(swap_lock, LOCK_EX | LOCK_NB) == 0) {
		char saved[32];
		ssize_t n = pread(swap_lock, saved, sizeof(saved) - 1, 0);
		if (n > 0) {
			saved[n] = 0;
			write_text("/proc/sys/vm/page-cluster", saved);
			if (ftruncate(swap_lock, 0) < 0)
				(void)0;
		}
		if (zram_in_swaps()) {
			const char *off[] = { "swapoff", "/dev/zram0", NULL };
			if (run_quiet(off) == 0)
				write_text(ZRAM "/reset", "1");
		}
	}
	close(swap_lock);
	swap_lock = -1;
	swap_ours = false;
}

/* Put vm.max_map_count back if anyone (this process or a child) changed it. */
static void restore_limit(void)
{
	char buf[32];
	if (!live_env || !live_env->max_map_count_orig)
		return;
	/* Only what this run did: lowered it (ANONVM_HOST_MAP_LIMIT) or raised it. */
	if (read_text("/proc/sys/vm/max_map_count", buf, sizeof(buf)) == 0 &&
	    (live_env->map_limit_lowered ||
	     strtoul(buf, NULL, 10) > live_env->max_map_count_orig)) {
		snprintf(buf, sizeof(buf), "%lu", live_env->max_map_count_orig);
		write_text("/proc/sys/vm/max_map_count", buf);
	}
}

/*
 * A small vm.max_map_count is emulated per puppet: each puppet holds
 * padding VMAs outside the arena so that its arena gets exactly
 * @model_max VMAs under the host's global limit (puppet.c do_pad()).
 * The global limit is never lowered by default (other processes on the
 * machine would fail their mmaps), which makes padding cost ~65,000 VMAs
 * per puppet; ANONVM_HOST_MAP_LIMIT=N lowers it to N for the oracle's
 * lifetime to make limit scenarios cheap (host_env_init()).  A limit
 * above the global one is set globally (raising harms nobody): the
 * default 65530 itself needs 65530 + baseline on the host.
 */
int host_max_map_padding(struct host_env *env, unsigned long model_max, unsigned long *pad)
{
	unsigned long need = model_max + (unsigned long)env->baseline_vmas;
	unsigned long cur = env->max_map_count_cur ? env->max_map_count_cur : env->max_map_count_orig;
	if (need > cur && (model_max > AVM_DEFAULT_MAX_MAP_COUNT || !env->map_limit_lowered)) {
		char num[32];
		snprintf(num, sizeof(num), "%lu", need);
		int r = write_text("/proc/sys/vm/max_map_count", num);
		if (r)
			return r;
		cur = need;
	}
	env->max_map_count_cur = cur;
	/* The default limit under a lowered global one: unreachable by scenarios, no padding. */
	*pad = need > cur ? 0 : cur - need;
	return 0;
}

/* The CPU every puppet runs on (puppet.c explains why one); ANONVM_HOST_CPU overrides. */
static int pick_cpu(void)
{
	const char *s = getenv("ANONVM_HOST_CPU");
	if (s && *s)
		return atoi(s);
	int c = sched_getcpu();
	return c < 0 ? 0 : c;
}

int host_map_limit_write(struct host_env *env, unsigned long value)
{
	char num[32];
	snprintf(num, sizeof(num), "%lu", value);
	return write_text("/proc/sys/vm/max_map_count", num);
}

static void cleanup_at_exit(void)
{
	if (live_env)
		host_env_fini(live_env);
}

static void cleanup_on_signal(int sig)
{
	cleanup_at_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Does an anonymous read fault map the shared zero page here?  The host
 * this was written on boots with pvm_no_zero_page=1: no (host-kernel.md).
 * Also measures what the oracle needs to know about pins and uffd.
 */
static int probe_with_puppet(struct host_env *env, char *msg, size_t msglen)
{
	struct puppet *p = puppet_spawn();
	if (!p) {
		snprintf(msg, msglen, "cannot start a puppet: %s", strerror(errno));
		return -EIO;
	}
	env->baseline_vmas = puppet_baseline_vmas(p);
	/* PR_SET_THP_DISABLE took (puppet.c): /proc/PID/status says THP_enabled: 0. */
	char path[64], st[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)puppet_pid(p));
	if (read_text(path, st, sizeof(st)) == 0) {
		const char *t = strstr(st, "THP_enabled:");
		if (t && strtol(t + 12, NULL, 10) != 0) {
			char sel[64] = "", thp[128] = "";
			read_text("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
			selected(thp, sel, sizeof(sel));
			if (strcmp(sel, "never") != 0) {
				snprintf(msg, msglen, "THP can apply in puppets (PR_SET_THP_DISABLE "
						      "did not take, enabled=%s)", sel);
				env->thp_ok = false;
				puppet_exit(p);
				return -EBUSY;
			}
		}
	}
	struct host_observer *o = host_observer_new();
	struct puppet_resp rs;
	const unsigned long a = AVM_ARENA_START + 0x100000;
	struct puppet_req rq = { .op = PUP_MMAP, .a = { a, 4 * AVM_PAGE_SIZE, 3, 0x22 | 0x100000 } };
	int r = -EIO;
	if (!o || puppet_call(p, &rq, &rs) || rs.ret != (int64_t)a) {
		snprintf(msg, msglen, "probe mmap in the arena failed");
		goto out;
	}
	rq = (struct puppet_req){ .op = PUP_READ, .a = { a } };
	struct host_page pg[4];
	if (puppet_call(p, &rq, &rs) || rs.ret || host_read_pages(o, puppet_pid(p), a, 1, pg)) {
		snprintf(msg, msglen, "probe read fault failed");
		goto out;
	}
	env->read_fault_zero_page = pg[0].state == HOST_PAGE_ZERO;
	if (pg[0].pfn == 0) {
		snprintf(msg, msglen, "pagemap shows no PFNs (need CAP_SYS_ADMIN)");
		goto out;
	}
	env->pagemap_pfn = true;

	/* A long-term pin through io_uring on page 1. */
	rq = (struct puppet_req){ .op = PUP_PIN, .a = { a + AVM_PAGE_SIZE, 1, 0 } };
	if (puppet_call(p, &rq, &rs) == 0 && rs.ret == 0) {
		rq = (struct puppet_req){ .op = PUP_PIN_WRITE, .a = { 0, 0, 0x1234 } };
		struct puppet_resp rs2;
		rq.op = PUP_PIN_WRITE;
		if (puppet_call(p, &rq, &rs2) == 0 && rs2.ret == 0) {
			rq = (struct puppet_req){ .op = PUP_READ, .a = { a + AVM_PAGE_SIZE } };
			if (puppet_call(p, &rq, &rs2) == 0 && rs2.ret == 0 && rs2.val == 0x1234)
				env->io_uring = true;
		}
		rq = (struct puppet_req){ .op = PUP_UNPIN, .a = { 0 } };
		puppet_call(p, &rq, &rs2);
	}
	if (!env->io_uring)
		snprintf(env->why_io_uring, sizeof(env->why_io_uring),
			 "io_uring registered buffers unavailable (pin checks skipped)");

	rq = (struct puppet_req){ .op = PUP_UFFD_REGISTER, .a = { a + 2 * AVM_PAGE_SIZE, AVM_PAGE_SIZE, 1 } };
	if (puppet_call(p, &rq, &rs) == 0 && rs.ret == 0) {
		env->uffd_sigbus = (rs.val & (1 << 7)) != 0;
		env->uffd_move = (rs.val & (1 << 16)) != 0;
	}
	if (!env->uffd_sigbus || !env->uffd_move)
		snprintf(env->why_uffd, sizeof(env->why_uffd),
			 "userfaultfd without %s (uffd checks skipped)",
			 !env->uffd_sigbus ? "UFFD_FEATURE_SIGBUS" : "UFFD_FEATURE_MOVE");

	rq = (struct puppet_req){ .op = PUP_NAME, .a = { a, AVM_PAGE_SIZE } };
	snprintf(rq.name, sizeof(rq.name), "probe");
	env->anon_name = puppet_call(p, &rq, &rs) == 0 && rs.ret == 0;
	r = 0;
out:
	host_observer_free(o);
	puppet_exit(p);
	return r;
}

int host_env_init(struct host_env *env, bool want_swap, char *msg, size_t msglen)
{
	char buf[256], sel[64];
	memset(env, 0, sizeof(*env));
	env->root = geteuid() == 0;
	if (!env->root) {
		snprintf(msg, msglen, "not root (pagemap PFNs and /proc/kpageflags need it)");
		return -EPERM;
	}
	if (access("/proc/kpageflags", R_OK) || access("/proc/kpagecount", R_OK)) {
		snprintf(msg, msglen, "no /proc/kpageflags or /proc/kpagecount");
		return -ENOENT;
	}
	env->kpageflags = true;

	/* THP: MMF_DISABLE_THP covers the puppets; refuse only what overrides it. */
	env->thp_ok = true;
	if (read_text("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)) == 0) {
		selected(buf, sel, sizeof(sel));
		if (strcmp(sel, "always") == 0) {
			/* prctl(PR_SET_THP_DISABLE) still wins, but say what we saw. */
			snprintf(env->why_thp, sizeof(env->why_thp),
				 "THP enabled=always (puppets run with PR_SET_THP_DISABLE)");
		}
	}
	env->ksm_off = true;
	if (read_text("/sys/kernel/mm/ksm/run", buf, sizeof(buf)) == 0 && strcmp(buf, "0") != 0) {
		env->ksm_off = false;
		snprintf(env->why_ksm, sizeof(env->why_ksm), "KSM is running (/sys/kernel/mm/ksm/run=%.8s)",
			 buf);
		snprintf(msg, msglen, "%s", env->why_ksm);
		return -EBUSY;
	}
	if (read_text("/proc/sys/vm/max_map_count", buf, sizeof(buf)) == 0)
		env->max_map_count_orig = strtoul(buf, NULL, 10);
	if (env->max_map_count_orig < AVM_DEFAULT_MAX_MAP_COUNT) {
		/*
		 * Below the default: left behind by a run that died (or an old
		 * oracle that lowered it globally).  Repair it rather than
		 * "restore" a broken value at the end.
		 */
		env->max_map_count_orig = AVM_DEFAULT_MAX_MAP_COUNT;
		snprintf(buf, sizeof(buf), "%lu", env->max_map_count_orig);
		write_text("/proc/sys/vm/max_map_count", buf);
	}

	int r = puppet_launcher_start(pick_cpu(), msg, msglen);
	if (r)
		return r;
	live_env = env;
	const char *lim = getenv("ANONVM_HOST_MAP_LIMIT");
	if (lim && strtoul(lim, NULL, 10) >= 1000) {
		snprintf(buf, sizeof(buf), "%lu", strtoul(lim, NULL, 10));
		if (write_text("/proc/sys/vm/max_map_count", buf) == 0) {
			env->max_map_count_cur = strtoul(lim, NULL, 10);
			env->map_limit_lowered = true;
		}
	}
	static bool hooked;
	if (!hooked) {
		hooked = true;
		atexit(cleanup_at_exit);
		signal(SIGINT, cleanup_on_signal);
		signal(SIGTERM, cleanup_on_signal);
		signal(SIGHUP, cleanup_on_signal);
	}
	r = probe_with_puppet(env, msg, msglen);
	if (r) {
		host_env_fini(env);
		return r;
	}
	if (!env->max_map_count_cur)
		env->max_map_count_cur = env->max_map_count_orig;
	/*
	 * The model's default limit counts arena VMAs only: raise the host's
	 * by the puppets' baseline once, here in the parent, so scenario
	 * children never touch the sysctl for the default (restored at the end).
	 */
	unsigned long pad;
	host_max_map_padding(env, AVM_DEFAULT_MAX_MAP_COUNT, &pad);
	if (want_swap)
		swap_setup(env);
	else
		snprintf(env->why_swap, sizeof(env->why_swap), "swap not requested");
	return 0;
}

void host_env_fini(struct host_env *env)
{
	if (live_env != env)
		return;
	restore_limit();
	swap_teardown();
	puppet_launcher_stop();
	live_env = NULL;
}

void host_print_env(const struct host_env *env, FILE *out)
{
	fprintf(out, "host: read faults map the zero page: %s; baseline VMAs per puppet: %d\n",
		env->read_fault_zero_page ? "yes" : "no", env->baseline_vmas);
	fprintf(out, "host: io_uring pins: %s; uffd move: %s; anon names: %s; swap: %s\n",
		env->io_uring ? "yes" : "no", env->uffd_move ? "yes" : "no",
		env->anon_name ? "yes" : "no",
		env->swap ? (env->swap_is_zram ? "zram" : "yes") : "no");
	const char *why[] = { env->why_thp, env->why_swap, env->why_io_uring, env->why_uffd };
	for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
		if (why[i][0])
			fprintf(out, "host: note: %s\n", why[i]);
}
