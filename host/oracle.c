/*
 * oracle.c - the model and the host kernel side by side, op by op
 * (shared/DESIGN.md "The host oracle").
 *
 * For every scenario line: the model runs it first (script_exec_op()),
 * which resolves it to numbers (res->call) and picks the addresses the
 * model chose; the same call then runs in the puppet of that process,
 * with model-chosen addresses passed as MAP_FIXED_NOREPLACE / MREMAP_FIXED
 * so both sides work on the same ranges.  Then:
 *
 *   1. results: return value / errno, mmap and mremap addresses, values
 *      read (memory, pins), bytes moved by UFFDIO_MOVE;
 *   2. a checkpoint, per live process: the arena VMA list (start, end,
 *      permissions, offset column, count) and, for every page of every
 *      VMA: state (none / present / zero / swap / guard), mapcount
 *      (kpagecount), anon (kpageflags 12), PG_anon_exclusive (34),
 *      swapcache (13) and the content word;
 *   3. identity: model frame <-> host PFN and model swap slot <-> host
 *      swap entry must be a bijection within a checkpoint, and stay the
 *      same from one checkpoint to the next while the frame is seen at
 *      both.  Copy-versus-reuse shows here: a model that copies where the
 *      kernel reuses maps one model frame to two host PFNs over time.
 *
 * Environment gaps are SKIPs, never passes (STYLE 15): an op the host
 * cannot express (anon names without CONFIG_ANON_VMA_NAME, read-only pins,
 * global reclaim, a missing io_uring or UFFDIO_MOVE) ends the comparison
 * of that scenario with verdict SKIP and the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "host.h"
#include "scenario.h"

#define MAX_PROCS 64
#define MAX_HANDLES 256
#define MAX_DIFF_PAGES 12

/* ---- a small open-addressing map for the identity bijections ---------- */

struct idmap_ent {
	uint64_t key, partner, epoch; /* key 0 = empty: keys are stored + 1 */
};

struct idmap {
	struct idmap_ent *e;
	size_t cap, used;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct idmap_ent *idmap_slot(struct idmap *m, uint64_t key)
{
	size_t i = mix(key + 1) & (m->cap - 1);
	while (m->e[i].key && m->e[i].key != key + 1)
		i = (i + 1) & (m->cap - 1);
	return &m->e[i];
}

static struct idmap_ent *idmap_get(struct idmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	struct idmap_ent *s = idmap_slot(m, key);
	return s->key ? s : NULL;
}

static int idmap_put(struct idmap *m, uint64_t key, uint64_t partner, uint64_t epoch)
{
	if ((m->used + 1) * 2 > m->cap) {
		struct idmap old = *m;
		m->cap = old.cap ? old.cap * 2 : 1024;
		m->e = calloc(m->cap, sizeof(*m->e));
		m->used = 0;
		if (!m->e) {
			*m = old;
			return -ENOMEM;
		}
		for (size_t i = 0; i < old.cap; i++)
			if (old.e[i].key)
				idmap_put(m, old.e[i].key - 1, old.e[i].partner, old.e[i].epoch);
		free(old.e);
	}
	struct idmap_ent *s = idmap_slot(m, key);
	if (!s->key) {
		s->key = key + 1;
		m->used++;
	}
	s->partner = partner;
	s->epoch = epoch;
	return 0;
}

/* ---- oracle state ------------------------------------------------------ */

struct oproc {
	int mpid; /* model pid, 0 = free */
	struct puppet *pup;
	uint64_t pin_slots, ref_slots; /* bitmaps of used slots */
	unsigned long pad;             /* padding VMAs the puppet holds now */
};

struct ohandle {
	int mhandle; /* model handle */
	int mpid;
	bool ref;
	bool live;
	unsigned slot;
};

struct oracle {
	struct host_env *env;
	const struct host_diff_options *opt;
	struct host_diff_result *res;
	struct script_state *st;
	struct host_observer *obs;
	struct oproc procs[MAX_PROCS];
	struct ohandle handles[MAX_HANDLES];
	unsigned nhandles;
	unsigned long pad; /* padding VMAs every puppet holds (max_map_count) */
	struct idmap frame_m2h, frame_h2m, swap_m2h, swap_h2m;
	uint64_t epoch;
	/* scratch */
	struct host_vma *hv;
	size_t hv_cap;
	struct host_page *hp;
	size_t hp_cap;
	/* report */
	const struct avm_op *op;
	char *detail;
	size_t detail_len, detail_cap;
};

static void detail(struct oracle *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void detail(struct oracle *o, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = o->detail_cap - o->detail_len;
		va_start(ap, fmt);
		int n = o->detail ? vsnprintf(o->detail + o->detail_len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			o->detail_len += (size_t)n;
			return;
		}
		size_t ncap = o->detail_cap ? o->detail_cap * 2 : 4096;
		if (n >= 0 && ncap < o->detail_len + (size_t)n + 1)
			ncap = o->detail_len + (size_t)n + 1;
		char *nb = realloc(o->detail, ncap);
		if (!nb)
			return;
		o->detail = nb;
		o->detail_cap = ncap;
	}
}

static enum host_verdict verdict(struct oracle *o, enum host_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum host_verdict verdict(struct oracle *o, enum host_verdict v, const char *fmt, ...)
{
	va_list ap;
	if (o->res->verdict != HOST_PASS)
		return o->res->verdict; /* keep the first */
	o->res->verdict = v;
	o->res->line = o->op ? o->op->line : 0;
	va_start(ap, fmt);
	vsnprintf(o->res->reason, sizeof(o->res->reason), fmt, ap);
	va_end(ap);
	return v;
}

static struct oproc *proc_of(struct oracle *o, int mpid)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (o->procs[i].mpid == mpid && mpid)
			return &o->procs[i];
	return NULL;
}

static struct oproc *proc_new(struct oracle *o, int mpid, struct puppet *pup)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (!o->procs[i].mpid) {
			o->procs[i] = (struct oproc){ .mpid = mpid, .pup = pup };
			return &o->procs[i];
		}
	return NULL;
}

static struct ohandle *handle_of(struct oracle *o, int mhandle)
{
	for (unsigned i = 0; i < o->nhandles; i++)
		if (o->handles[i].mhandle == mhandle && o->handles[i].live)
			return &o->handles[i];
	return NULL;
}

static long pcall(struct oproc *p, enum puppet_opcode op, uint64_t a0, uint64_t a1, uint64_t a2,
		  uint64_t a3, uint64_t a4, uint64_t *val)
{
	struct puppet_req rq = { .op = op, .a = { a0, a1, a2, a3, a4 } };
	struct puppet_resp rs;
	if (puppet_call(p->pup, &rq, &rs))
		return -EPIPE;
	if (val)
		*val = rs.val;
	return (long)rs.ret;
}

static const char *errname(long r, bool access, char *buf, size_t len)
{
	if (r >= 0) {
		snprintf(buf, len, "%ld", r);
		return buf;
	}
	const char *n = script_errno_name((int)-r);
	if (access && r == -AVM_ESIGSEGV)
		n = "SIGSEGV";
	if (access && r == -AVM_ESIGBUS)
		n = "SIGBUS";
	snprintf(buf, len, "-%s", n ? n : "?");
	return buf;
}

/* ---- running one call on the host ------------------------------------- */

/* Compare a syscall's result: both failed with the same errno, or both succeeded. */
static bool same_ret(struct oracle *o, const char *what, long model, long host)
{
	char b1[32], b2[32];
	bool mok = model >= 0, hok = host >= 0;
	bool access = !strcmp(what, "read") || !strcmp(what, "write") || !strcmp(what, "touch") ||
		      !strcmp(what, "expect read");
	if (mok == hok && (mok || model == host))
		return true;
	verdict(o, HOST_DIVERGE, "%s: model returned %s, host %s", what,
		errname(model, access, b1, sizeof(b1)), errname(host, access, b2, sizeof(b2)));
	return false;
}

static enum host_verdict apply_padding(struct oracle *o, struct oproc *p)
{
	if (p->pad == o->pad)
		return HOST_PASS;
	long r = pcall(p, PUP_PAD, o->pad, 0, 0, 0, 0, NULL);
	if (r == -ENOMEM) {
		/*
		 * A limit set below the VMAs the process already has: the pads
		 * must still be added (so later checks see map_count - pads
		 * against the model's limit), but mmap refuses above the
		 * limit.  Raise it for the moment it takes, then put it back.
		 */
		unsigned long cur = o->env->max_map_count_cur;
		host_map_limit_write(o->env, cur + o->pad + 1000);
		r = pcall(p, PUP_PAD, o->pad, 0, 0, 0, 0, NULL);
		host_map_limit_write(o->env, cur);
	}
	if (r != (long)o->pad)
		return verdict(o, HOST_SKIP, "cannot emulate vm.max_map_count: padding failed (%ld)",
			       r);
	p->pad = o->pad;
	return HOST_PASS;
}

static int slot_alloc(uint64_t *bitmap)
{
	for (int i = 0; i < PUPPET_SLOTS; i++)
		if (!(*bitmap & (1ULL << i))) {
			*bitmap |= 1ULL << i;
			return i;
		}
	return -1;
}

static enum host_verdict run_host(struct oracle *o, const struct avm_op *op,
				  const struct op_result *mr)
{
	const struct script_call *c = &mr->call;
	struct oproc *p = NULL;
	const char *kname = avm_op_kind_name(op->kind);
	long r;
	uint64_t v = 0;

	if (c->pid && op->kind != AVM_OP_SPAWN && !(p = proc_of(o, c->pid)))
		return verdict(o, HOST_ERROR, "%s: no puppet for model pid %d", kname, c->pid);

	switch (op->kind) {
	case AVM_OP_SPAWN:
	case AVM_OP_FORK: {
		if (mr->ret < 0 || mr->pid <= 0)
			return HOST_PASS; /* model refused (limit): nothing to mirror */
		/*
		 * The forked puppet swaps its parent's io_uring ring mappings for
		 * its own (unmap, then map again into the same hole).  A process
		 * above an emulated limit (allowed when the limit was lowered
		 * under it) could not map them back: lift the limit meanwhile.
		 */
		bool lift = op->kind == AVM_OP_FORK && p->pad;
		if (lift)
			host_map_limit_write(o->env, o->env->max_map_count_cur + p->pad + 1000);
		struct puppet *np = op->kind == AVM_OP_SPAWN ? puppet_spawn() : puppet_fork(p->pup);
		if (lift)
			host_map_limit_write(o->env, o->env->max_map_count_cur);
		if (!np)
			return verdict(o, HOST_ERROR, "%s: puppet: %s", kname, strerror(errno));
		struct oproc *cp = proc_new(o, mr->pid, np);
		if (!cp) {
			puppet_exit(np);
			return verdict(o, HOST_SKIP, "more than %d processes", MAX_PROCS);
		}
		if (op->kind == AVM_OP_FORK)
			cp->pad = p->pad; /* the child inherits the padding VMAs */
		if (op->kind == AVM_OP_SPAWN)
			return apply_padding(o, cp);
		return HOST_PASS;
	}
	case AVM_OP_EXIT:
		if (mr->ret < 0)
			return HOST_PASS;
		puppet_exit(p->pup);
		/*
		 * On the host a pin is an io_uring registered buffer and a
		 * reference is a pipe: both are files of the process and go away
		 * at exit.  The model keeps pin sets alive past avm_exit(), so
		 * drop them there too, or a page the exited process had
		 * referenced would keep an extra refcount in the model only
		 * (and a later write would copy where the kernel reuses).
		 */
		for (unsigned i = 0; i < o->nhandles; i++)
			if (o->handles[i].mpid == p->mpid && o->handles[i].live) {
				(void)avm_unpin(script_world(o->st), o->handles[i].mhandle);
				o->handles[i].live = false;
			}
		memset(p, 0, sizeof(*p));
		return HOST_PASS;
	case AVM_OP_MMAP: {
		/*
		 * Run as written: the puppets' top-down search starts at the
		 * arena's end like the model's (puppet.c), so the host chooses
		 * for itself and the addresses are compared.
		 */
		unsigned long addr = c->fixed_by_model ? 0 : c->addr;
		int flags = c->flags;
		r = pcall(p, PUP_MMAP, addr, c->len, (uint64_t)c->prot, (uint64_t)flags, 0, NULL);
		if (!same_ret(o, kname, mr->ret, r))
			return HOST_DIVERGE;
		if (r >= 0 && (unsigned long)r != mr->addr)
			return verdict(o, HOST_DIVERGE, "mmap: model placed at %#lx, host at %#lx",
				       mr->addr, (unsigned long)r);
		return HOST_PASS;
	}
	case AVM_OP_MUNMAP:
		r = pcall(p, PUP_MUNMAP, c->addr, c->len, 0, 0, 0, NULL);
		break;
	case AVM_OP_MPROTECT:
		r = pcall(p, PUP_MPROTECT, c->addr, c->len, (uint64_t)c->prot, 0, 0, NULL);
		break;
	case AVM_OP_MREMAP: {
		int flags = c->flags;
		unsigned long na = c->addr2;
		if (flags & AVM_MREMAP_RELOCATE_ANON)
			return verdict(o, HOST_SKIP, "MREMAP_RELOCATE_ANON is not in mainline (R7.30)");
		r = pcall(p, PUP_MREMAP, c->addr, c->len, c->len2, (uint64_t)flags, na, NULL);
		if (!same_ret(o, kname, mr->ret, r))
			return HOST_DIVERGE;
		if (r >= 0 && (unsigned long)r != mr->addr)
			return verdict(o, HOST_DIVERGE, "mremap: model result %#lx, host %#lx",
				       mr->addr, (unsigned long)r);
		return HOST_PASS;
	}
	case AVM_OP_MADVISE:
		if (c->advice == AVM_MADV_PAGEOUT && !o->env->swap)
			return verdict(o, HOST_SKIP, "%s", o->env->why_swap);
		if (c->advice == AVM_MADV_HUGEPAGE || c->advice == AVM_MADV_MERGEABLE)
			return verdict(o, HOST_SKIP, "MADV_%s: THP/KSM are kept out of the arena",
				       c->advice == AVM_MADV_HUGEPAGE ? "HUGEPAGE" : "MERGEABLE");
		r = pcall(p, PUP_MADVISE, c->addr, c->len, (uint64_t)c->advice, 0, 0, NULL);
		break;
	case AVM_OP_MLOCK:
		r = pcall(p, PUP_MLOCK, c->addr, c->len, (uint64_t)c->flags, 0, 0, NULL);
		break;
	case AVM_OP_MUNLOCK:
		r = pcall(p, PUP_MUNLOCK, c->addr, c->len, 0, 0, 0, NULL);
		break;
	case AVM_OP_NAME:
		if (!o->env->anon_name)
			return verdict(o, HOST_SKIP,
				       "anon VMA names are model-only here (no CONFIG_ANON_VMA_NAME)");
		{
			struct puppet_req rq = { .op = PUP_NAME, .a = { c->addr, c->len } };
			struct puppet_resp rs;
			if (!op->name_none)
				snprintf(rq.name, sizeof(rq.name), "%s", op->name);
			r = puppet_call(p->pup, &rq, &rs) ? -EPIPE : (long)rs.ret;
		}
		break;
	case AVM_OP_READ:
		r = pcall(p, PUP_READ, c->addr, 0, 0, 0, 0, &v);
		if (!same_ret(o, kname, mr->ret, r))
			return HOST_DIVERGE;
		if (r == 0 && v != mr->value)
			return verdict(o, HOST_DIVERGE, "read %#lx: model %#" PRIx64 ", host %#" PRIx64,
				       c->addr, mr->value, v);
		return HOST_PASS;
	case AVM_OP_WRITE:
		r = pcall(p, PUP_WRITE, c->addr, c->value, 0, 0, 0, NULL);
		break;
	case AVM_OP_TOUCH:
		r = pcall(p, PUP_TOUCH, c->addr, c->len, (uint64_t)(c->flags & 1), 0, 0, NULL);
		break;
	case AVM_OP_PIN:
	case AVM_OP_REF: {
		bool ref = op->kind == AVM_OP_REF;
		unsigned long npages = (c->len + AVM_PAGE_SIZE - 1) / AVM_PAGE_SIZE;
		if (!ref && !(c->flags & AVM_FOLL_WRITE))
			return verdict(o, HOST_SKIP,
				       "read-only pins have no userspace primitive on this kernel");
		if (!ref && !o->env->io_uring)
			return verdict(o, HOST_SKIP, "%s", o->env->why_io_uring);
		if (ref && npages > 256)
			return verdict(o, HOST_SKIP, "reference sets above 256 pages (pipe size)");
		int slot = slot_alloc(ref ? &p->ref_slots : &p->pin_slots);
		if (slot < 0 || o->nhandles == MAX_HANDLES)
			return verdict(o, HOST_SKIP, "too many pins in one process");
		r = pcall(p, ref ? PUP_REF : PUP_PIN, c->addr, npages, (uint64_t)slot, 0, 0, NULL);
		if (r < 0)
			*(ref ? &p->ref_slots : &p->pin_slots) &= ~(1ULL << slot);
		if (!same_ret(o, kname, mr->ret, r))
			return HOST_DIVERGE;
		if (r == 0)
			o->handles[o->nhandles++] = (struct ohandle){
				.mhandle = mr->handle, .mpid = c->pid, .ref = ref, .live = true,
				.slot = (unsigned)slot };
		return HOST_PASS;
	}
	case AVM_OP_UNPIN:
	case AVM_OP_PIN_READ:
	case AVM_OP_PIN_WRITE: {
		struct ohandle *h = handle_of(o, c->handle);
		if (!h) {
			if (mr->ret < 0)
				return HOST_PASS; /* the model refused an unknown handle */
			return verdict(o, HOST_SKIP, "%s: handle of an exited process (host pins die "
					       "with the process)", kname);
		}
		struct oproc *hp = proc_of(o, h->mpid);
		if (!hp)
			return verdict(o, HOST_SKIP, "%s: pinning process is gone", kname);
		if (op->kind == AVM_OP_UNPIN) {
			r = pcall(hp, h->ref ? PUP_UNREF : PUP_UNPIN, h->slot, 0, 0, 0, 0, NULL);
			if (mr->ret == 0) {
				h->live = false;
				*(h->ref ? &hp->ref_slots : &hp->pin_slots) &= ~(1ULL << h->slot);
			}
			break;
		}
		if (mr->ret < 0)
			return HOST_PASS; /* API misuse (index out of range): model-only errno */
		if (op->kind == AVM_OP_PIN_WRITE) {
			if (h->ref)
				return verdict(o, HOST_SKIP, "pin-write through a vmsplice reference");
			r = pcall(hp, PUP_PIN_WRITE, h->slot, c->index, c->value, 0, 0, NULL);
			break;
		}
		r = pcall(hp, h->ref ? PUP_REF_READ : PUP_PIN_READ, h->slot, c->index, 0, 0, 0, &v);
		if (!same_ret(o, kname, mr->ret, r))
			return HOST_DIVERGE;
		if (v != mr->value)
			return verdict(o, HOST_DIVERGE,
				       "pin-read page %" PRIu64 ": model %#" PRIx64 ", host %#" PRIx64,
				       c->index, mr->value, v);
		return HOST_PASS;
	}
	case AVM_OP_UFFD_REGISTER:
	case AVM_OP_UFFD_UNREGISTER:
	case AVM_OP_UFFD_MOVE:
		if (!o->env->uffd_move || !o->env->uffd_sigbus)
			return verdict(o, HOST_SKIP, "%s", o->env->why_uffd);
		if (op->kind == AVM_OP_UFFD_MOVE) {
			r = pcall(p, PUP_UFFD_MOVE, c->addr, c->addr2, c->len, (uint64_t)c->flags, 0,
				  &v);
			if (!same_ret(o, kname, mr->ret, r))
				return HOST_DIVERGE;
			if ((long)v != mr->moved)
				return verdict(o, HOST_DIVERGE,
					       "uffd-move: model moved %ld, host %ld", mr->moved,
					       (long)v);
			return HOST_PASS;
		}
		r = pcall(p, op->kind == AVM_OP_UFFD_REGISTER ? PUP_UFFD_REGISTER : PUP_UFFD_UNREGISTER,
			  c->addr, c->len, AVM_UFFDIO_REGISTER_MODE_MISSING, 0, 0, NULL);
		break;
	case AVM_OP_RECLAIM:
		return verdict(o, HOST_SKIP, "global reclaim has no host equivalent");
	case AVM_OP_SET:
		if (strcmp(op->name, "max_map_count") != 0)
			return HOST_PASS;
		{
			unsigned long pad;
			if (host_max_map_padding(o->env, op->value, &pad))
				return verdict(o, HOST_SKIP, "cannot set vm.max_map_count");
			o->pad = pad;
			for (int i = 0; i < MAX_PROCS; i++)
				if (o->procs[i].mpid && apply_padding(o, &o->procs[i]) != HOST_PASS)
					return o->res->verdict;
		}
		return HOST_PASS;
	case AVM_OP_EXPECT:
		if (op->expect != AVM_EXPECT_READ)
			return HOST_PASS;
		r = pcall(p, PUP_READ, c->addr, 0, 0, 0, 0, &v);
		if (!same_ret(o, "expect read", mr->ret, r))
			return HOST_DIVERGE;
		if (r == 0 && v != mr->value)
			return verdict(o, HOST_DIVERGE, "read %#lx: model %#" PRIx64 ", host %#" PRIx64,
				       c->addr, mr->value, v);
		return HOST_PASS;
	default:
		return HOST_PASS;
	}
	if (r == -EPIPE && mr->ret != -EPIPE)
		return verdict(o, HOST_ERROR, "%s: puppet died", kname);
	return same_ret(o, kname, mr->ret, r) ? HOST_PASS : HOST_DIVERGE;
}

/* ---- checkpoints ------------------------------------------------------- */

static const char *mstate_name(enum avm_page_state s)
{
	static const char *n[] = { "none", "present", "zero", "swap", "migration", "guard" };
	return (unsigned)s < 6 ? n[s] : "?";
}

static const char *hstate_name(enum host_page_state s)
{
	static const char *n[] = { "none", "present", "zero", "swap", "guard" };
	return (unsigned)s < 5 ? n[s] : "?";
}

static void model_perms(const struct avm_vma_info *v, char out[5])
{
	out[0] = v->flags & AVM_VM_READ ? 'r' : '-';
	out[1] = v->flags & AVM_VM_WRITE ? 'w' : '-';
	out[2] = v->flags & AVM_VM_EXEC ? 'x' : '-';
	out[3] = v->flags & AVM_VM_MAYSHARE ? 's' : 'p';
	out[4] = 0;
}

static void dump_maps(struct oracle *o, struct oproc *p)
{
	struct avm_vma_info vi;
	unsigned long cur = 0;
	char perms[5];
	detail(o, "  model %s maps:\n", script_proc_name(o->st, p->mpid) ?: "?");
	while (avm_vma_next(script_world(o->st), p->mpid, &cur, &vi) == 1) {
		model_perms(&vi, perms);
		detail(o, "    %012lx-%012lx %s %08lx\n", vi.start, vi.end, perms,
		       vi.shared_anon ? vi.pgoff << 12 : 0);
	}
	int n = host_read_maps(puppet_pid(p->pup), AVM_ARENA_START, AVM_ARENA_END, &o->hv,
			       &o->hv_cap, NULL);
	detail(o, "  host %s maps:\n", script_proc_name(o->st, p->mpid) ?: "?");
	for (int i = 0; i < n; i++)
		detail(o, "    %012lx-%012lx %s %08lx\n", o->hv[i].start, o->hv[i].end,
		       o->hv[i].perms, o->hv[i].offset);
}

/*
 * One identity pair (model id, host id) seen at this checkpoint.  A pair
 * is checked against what each side was paired with at this checkpoint
 * and at the previous one; older pairings are forgotten, because a freed
 * frame's number may be reused on either side.
 */
static bool identity(struct oracle *o, struct idmap *m2h, struct idmap *h2m, uint64_t mid,
		     uint64_t hid, const char *what, char *why, size_t wlen)
{
	struct idmap_ent *a = idmap_get(m2h, mid), *b = idmap_get(h2m, hid);
	if (a && a->epoch + 1 >= o->epoch && a->partner != hid) {
		snprintf(why, wlen,
			 "%s identity: model %s %" PRIu64 " was host %#" PRIx64 " %s, now host %#" PRIx64
			 " (the host split what the model shares)",
			 what, what, mid, a->partner,
			 a->epoch == o->epoch ? "elsewhere" : "at the previous line", hid);
		return false;
	}
	if (b && b->epoch + 1 >= o->epoch && b->partner != mid) {
		snprintf(why, wlen,
			 "%s identity: host %s %#" PRIx64 " was model %" PRIu64 " %s, now model %" PRIu64
			 " (the model split what the host shares: copy versus reuse?)",
			 what, what, hid, b->partner,
			 b->epoch == o->epoch ? "elsewhere" : "at the previous line", mid);
		return false;
	}
	idmap_put(m2h, mid, hid, o->epoch);
	idmap_put(h2m, hid, mid, o->epoch);
	return true;
}

static bool compare_page(struct oracle *o, struct oproc *p, unsigned long addr,
			 const struct avm_page_info *m, const struct host_page *h, char *why,
			 size_t wlen)
{
	enum host_page_state want;
	switch (m->state) {
	case AVM_PAGE_NONE: want = HOST_PAGE_NONE; break;
	case AVM_PAGE_PRESENT: want = HOST_PAGE_PRESENT; break;
	case AVM_PAGE_ZERO: want = HOST_PAGE_ZERO; break;
	case AVM_PAGE_SWAP: want = HOST_PAGE_SWAP; break;
	case AVM_PAGE_GUARD: want = HOST_PAGE_GUARD; break;
	default:
		snprintf(why, wlen, "model page state %s has no host equivalent",
			 mstate_name(m->state));
		return false;
	}
	if (want != h->state) {
		snprintf(why, wlen, "state: model %s, host %s", mstate_name(m->state),
			 hstate_name(h->state));
		return false;
	}
	if (h->state == HOST_PAGE_PRESENT && ((h->kflags >> KPF_THP_BIT) & 1 ||
					       (h->kflags >> KPF_KSM_BIT) & 1)) {
		/* The environment, not the model: THP or KSM reached the arena. */
		snprintf(why, wlen, "environment: a %s page in the arena",
			 (h->kflags >> KPF_THP_BIT) & 1 ? "THP" : "KSM");
		return false;
	}
	if (h->state == HOST_PAGE_PRESENT) {
		bool hanon = (h->kflags >> KPF_ANON_BIT) & 1;
		bool hexcl = (h->kflags >> KPF_ANON_EXCLUSIVE_BIT) & 1;
		bool hsc = (h->kflags >> KPF_SWAPCACHE_BIT) & 1;
		if ((uint64_t)m->mapcount != h->mapcount) {
			snprintf(why, wlen, "mapcount: model %d, host %" PRIu64, m->mapcount,
				 h->mapcount);
			return false;
		}
		if (m->anon != hanon) {
			snprintf(why, wlen, "anon: model %d, host %d", m->anon, hanon);
			return false;
		}
		if (hanon && m->anon_exclusive != hexcl) {
			snprintf(why, wlen, "PG_anon_exclusive: model %d, host %d", m->anon_exclusive,
				 hexcl);
			return false;
		}
		if (m->swapcache != hsc) {
			snprintf(why, wlen, "swapcache: model %d, host %d", m->swapcache, hsc);
			return false;
		}
	}
	if ((h->state == HOST_PAGE_PRESENT || h->state == HOST_PAGE_ZERO) && h->content_ok &&
	    h->content != m->content) {
		snprintf(why, wlen, "content: model %#" PRIx64 ", host %#" PRIx64, m->content,
			 h->content);
		return false;
	}
	if (h->state == HOST_PAGE_PRESENT &&
	    !identity(o, &o->frame_m2h, &o->frame_h2m, m->pfn, h->pfn, "frame", why, wlen))
		return false;
	if (h->state == HOST_PAGE_SWAP &&
	    !identity(o, &o->swap_m2h, &o->swap_h2m, m->swap_slot, h->swap, "swap", why, wlen))
		return false;
	return true;
}

static enum host_verdict checkpoint_proc(struct oracle *o, struct oproc *p)
{
	struct avm_world *w = script_world(o->st);
	const char *pname = script_proc_name(o->st, p->mpid) ?: "?";
	int total;
	int n = host_read_maps(puppet_pid(p->pup), AVM_ARENA_START, AVM_ARENA_END, &o->hv,
			       &o->hv_cap, &total);
	if (n < 0)
		return verdict(o, HOST_ERROR, "cannot read maps of %s: %s", pname, strerror(-n));
	/* VMA lists. */
	struct avm_vma_info vi;
	unsigned long cur = 0;
	int i = 0;
	char perms[5];
	bool bad = false;
	while (avm_vma_next(w, p->mpid, &cur, &vi) == 1) {
		if (vi.start < AVM_ARENA_START || vi.end > AVM_ARENA_END)
			return verdict(o, HOST_SKIP, "%s has a VMA outside the arena (%#lx)", pname,
				       vi.start);
		model_perms(&vi, perms);
		unsigned long off = vi.shared_anon ? vi.pgoff << 12 : 0;
		if (i >= n || o->hv[i].start != vi.start || o->hv[i].end != vi.end ||
		    strcmp(o->hv[i].perms, perms) || o->hv[i].offset != off) {
			bad = true;
			break;
		}
		i++;
	}
	if (bad || i != n) {
		verdict(o, HOST_DIVERGE, "%s: VMA lists differ (model vs host /proc/PID/maps)", pname);
		dump_maps(o, p);
		return HOST_DIVERGE;
	}
	/* Pages of every VMA. */
	int ndiff = 0;
	for (i = 0; i < n; i++) {
		size_t np = (o->hv[i].end - o->hv[i].start) / AVM_PAGE_SIZE;
		if (np > o->hp_cap) {
			struct host_page *nb = realloc(o->hp, np * sizeof(*nb));
			if (!nb)
				return verdict(o, HOST_ERROR, "out of memory");
			o->hp = nb;
			o->hp_cap = np;
		}
		unsigned long start = o->hv[i].start;
		int r = host_observe_pages(o->obs, p->pup, start, np, o->hp);
		if (r)
			return verdict(o, HOST_ERROR, "cannot read pages of %s: %s", pname,
				       strerror(-r));
		for (size_t k = 0; k < np; k++) {
			struct avm_page_info mi;
			unsigned long a = start + k * AVM_PAGE_SIZE;
			char why[200];
			if (avm_page_info(w, p->mpid, a, &mi))
				return verdict(o, HOST_ERROR, "avm_page_info failed");
			o->res->pages_compared++;
			if (!compare_page(o, p, a, &mi, &o->hp[k], why, sizeof(why))) {
				if (!strncmp(why, "environment", 11))
					return verdict(o, HOST_SKIP, "%s page %#lx: %s", pname, a, why);
				if (!ndiff)
					verdict(o, HOST_DIVERGE, "%s page %#lx: %s", pname, a, why);
				if (ndiff < MAX_DIFF_PAGES)
					detail(o, "  %s %#lx: %s\n", pname, a, why);
				ndiff++;
			}
		}
	}
	if (ndiff) {
		if (ndiff > MAX_DIFF_PAGES)
			detail(o, "  ... %d differing pages in %s\n", ndiff, pname);
		dump_maps(o, p);
		return HOST_DIVERGE;
	}
	return HOST_PASS;
}

static enum host_verdict checkpoint(struct oracle *o)
{
	o->epoch++;
	o->res->checkpoints++;
	/* Same set of live processes on both sides. */
	unsigned long cur = 0;
	int mpid, nmodel = 0, nhost = 0;
	while ((mpid = avm_proc_next(script_world(o->st), &cur)) > 0) {
		nmodel++;
		if (!proc_of(o, mpid))
			return verdict(o, HOST_ERROR, "model process %d has no puppet", mpid);
	}
	for (int i = 0; i < MAX_PROCS; i++)
		nhost += o->procs[i].mpid != 0;
	if (nhost != nmodel)
		return verdict(o, HOST_ERROR, "model has %d processes, host %d", nmodel, nhost);
	for (int i = 0; i < MAX_PROCS; i++)
		if (o->procs[i].mpid && checkpoint_proc(o, &o->procs[i]) != HOST_PASS)
			return o->res->verdict;
	return HOST_PASS;
}

/* ---- the driver ------------------------------------------------------------ */

static void print_report(struct oracle *o, const struct scenario *sc)
{
	FILE *out = o->opt->out;
	struct host_diff_result *r = o->res;
	static const char *vn[] = { "PASS", "DIVERGE", "SKIP", "ERROR" };
	if (!out)
		return;
	if (o->opt->json) {
		fprintf(out, "{\"file\":\"%s\",\"verdict\":\"%s\",\"line\":%d,\"ops\":%lu,"
			     "\"checkpoints\":%lu,\"pages\":%lu,\"reason\":\"",
			sc->file, vn[r->verdict], r->line, r->ops_run, r->checkpoints,
			r->pages_compared);
		for (const char *s = r->reason; *s; s++)
			fprintf(out, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
		fprintf(out, "\",\"detail\":\"");
		for (const char *s = o->detail ? o->detail : ""; *s; s++) {
			if (*s == '\n')
				fputs("\\n", out);
			else
				fprintf(out, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
		}
		fprintf(out, "\"}\n");
		return;
	}
	if (r->verdict == HOST_PASS) {
		if (o->opt->verbose)
			fprintf(out, "PASS %s (%lu ops, %lu checkpoints, %lu pages compared)\n",
				sc->file, r->ops_run, r->checkpoints, r->pages_compared);
		return;
	}
	fprintf(out, "%s %s:%d: %s\n", vn[r->verdict], sc->file, r->line, r->reason);
	if (o->opt->source && r->line > 0) {
		const char *s = o->opt->source;
		for (int l = 1; s && l < r->line; l++) {
			s = strchr(s, '\n');
			if (s)
				s++;
		}
		if (s) {
			const char *e = strchr(s, '\n');
			fprintf(out, "  line %d: %.*s\n", r->line, (int)(e ? e - s : (long)strlen(s)),
				s);
		}
	}
	if (o->detail)
		fputs(o->detail, out);
}

enum host_verdict host_diff_scenario(struct host_env *env, const struct scenario *sc,
				     const struct host_diff_options *opt,
				     struct host_diff_result *res)
{
	struct oracle o;
	struct script_options so;
	char err[256];
	memset(&o, 0, sizeof(o));
	memset(res, 0, sizeof(*res));
	o.env = env;
	o.opt = opt;
	o.res = res;

	script_options_default(&so);
	so.policy = opt->policy;
	so.host_like = !env->read_fault_zero_page;
	so.validate = true;
	so.quiet = true;
	so.out = NULL;
	so.err = NULL;
	so.swap_slots = env->swap ? 65536 : 0;
	so.max_op_pages = opt->max_op_pages;
	o.st = script_state_new(&so, err, sizeof(err));
	o.obs = host_observer_new();
	if (!o.st || !o.obs) {
		verdict(&o, HOST_ERROR, "setup: %s", o.st ? "cannot open /proc/kpage*" : err);
		goto out;
	}
	unsigned long pad;
	if (host_max_map_padding(env, AVM_DEFAULT_MAX_MAP_COUNT, &pad) == 0)
		o.pad = pad;
	for (size_t i = 0; i < sc->nops; i++) {
		const struct avm_op *op = &sc->ops[i];
		struct op_result mr;
		o.op = op;
		res->op_index = i;
		int st = script_exec_op(o.st, op, &mr);
		if (st == SCRIPT_ERROR) {
			if (!strncmp(mr.msg, "validator", 9))
				verdict(&o, HOST_DIVERGE, "model invariant broken: %s", mr.msg);
			else if (opt->lenient && !mr.ran_syscall)
				continue;
			else
				verdict(&o, HOST_ERROR, "script error: %s", mr.msg);
			break;
		}
		res->ops_run++;
		if (run_host(&o, op, &mr) != HOST_PASS)
			break;
		/*
		 * An op that can free frames and allocate others (MAP_FIXED or
		 * MREMAP_FIXED over populated memory, with populate or mlock) may
		 * hand a just-freed frame number out again, on either side:
		 * identity continuity is not checked across it.
		 */
		if ((op->kind == AVM_OP_MMAP && (mr.call.flags & AVM_MAP_FIXED)) ||
		    (op->kind == AVM_OP_MREMAP && (mr.call.flags & AVM_MREMAP_FIXED)))
			o.epoch++;
		if (checkpoint(&o) != HOST_PASS)
			break;
	}
out:
	print_report(&o, sc);
	for (int i = 0; i < MAX_PROCS; i++)
		if (o.procs[i].mpid)
			puppet_exit(o.procs[i].pup);
	script_state_free(o.st);
	host_observer_free(o.obs);
	free(o.frame_m2h.e);
	free(o.frame_h2m.e);
	free(o.swap_m2h.e);
	free(o.swap_h2m.e);
	free(o.hv);
	free(o.hp);
	free(o.detail);
	return res->verdict;
}

/*
 * The model may abort on a broken invariant (AVM_ASSERT).  That is a model
 * bug like any divergence, and must not take the fuzzer down: run the
 * comparison in a child process.  The child shares the launcher and the
 * environment, reports through a pipe, and leaves with _exit() so the
 * environment's atexit cleanup runs only in the parent.
 */
enum host_verdict host_diff_isolated(struct host_env *env, const struct scenario *sc,
				     const struct host_diff_options *opt,
				     struct host_diff_result *res)
{
	int rp[2], ep[2];
	memset(res, 0, sizeof(*res));
	if (pipe2(rp, O_CLOEXEC) < 0)
		return host_diff_scenario(env, sc, opt, res);
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(rp[0]);
		close(rp[1]);
		return host_diff_scenario(env, sc, opt, res);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(rp[0]);
		close(ep[0]);
		dup2(ep[1], 2);
		/* The environment's signal cleanup belongs to the parent. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		host_diff_scenario(env, sc, opt, res);
		fflush(NULL);
		ssize_t n = write(rp[1], res, sizeof(*res));
		_exit(n == (ssize_t)sizeof(*res) ? 0 : 1);
	}
	close(rp[1]);
	close(ep[1]);
	if (pid < 0) {
		close(rp[0]);
		close(ep[0]);
		return host_diff_scenario(env, sc, opt, res);
	}
	char errtext[2048];
	size_t elen = 0;
	ssize_t n;
	while ((n = read(ep[0], errtext + elen, sizeof(errtext) - 1 - elen)) > 0)
		elen += (size_t)n;
	errtext[elen] = 0;
	n = read(rp[0], res, sizeof(*res));
	int status = 0;
	waitpid(pid, &status, 0);
	close(rp[0]);
	close(ep[0]);
	if (n == (ssize_t)sizeof(*res) && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return res->verdict;
	/* The child died: the last line of its stderr says why (an assertion). */
	while (elen && errtext[elen - 1] == '\n')
		errtext[--elen] = 0;
	char *last = strrchr(errtext, '\n');
	last = last ? last + 1 : errtext;
	memset(res, 0, sizeof(*res));
	res->verdict = HOST_DIVERGE;
	snprintf(res->reason, sizeof(res->reason), "model crash: %.400s%s",
		 *last ? last : "(no message)",
		 WIFSIGNALED(status) ? "" : " (child exited abnormally)");
	if (opt->out)
		fprintf(opt->out, "DIVERGE %s: %s\n", sc->file, res->reason);
	return HOST_DIVERGE;
}
