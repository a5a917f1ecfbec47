/*
 * world.c - the simulated machine: configuration, policies, processes,
 * counted allocation with fault injection, and the errno names.
 *
 * Everything hangs off struct avm_world; nothing here is global except the
 * constant policy tables.
 */
#include <stdio.h>

#include "internal.h"

/* ---- policies (STYLE 11) ------------------------------------------------ */

const struct avm_policy avm_policy_linux = {
	.name = "linux",
	.summary = "mainline Linux 6.18 with the January-2026 mremap merge fixes",
	.merge_faulted_into_unfaulted = true, /* R4.5, since 6.16 */
	.mremap_merge_fix = true,             /* R4.20 fixed behaviour */
	.mremap_relocate_anon = false,        /* R7.30: not in mainline */
};

const struct avm_policy avm_policy_linux_612 = {
	.name = "linux-6.12",
	.summary = "the 6.12 anon_vma merge rule: a faulted range never merges into an "
		   "unfaulted neighbour (R4.6)",
	.merge_faulted_into_unfaulted = false,
	.mremap_merge_fix = true,
	.mremap_relocate_anon = false,
};

const struct avm_policy avm_policy_relocate = {
	.name = "relocate-anon",
	.summary = "linux plus MREMAP_RELOCATE_ANON (R7.30): moved exclusive anonymous "
		   "pages are re-indexed so the moved VMA can merge",
	.merge_faulted_into_unfaulted = true,
	.mremap_merge_fix = true,
	.mremap_relocate_anon = true,
};

static const struct avm_policy *const policies[] = {
	&avm_policy_linux,
	&avm_policy_linux_612,
	&avm_policy_relocate,
};

const struct avm_policy *avm_policy_at(unsigned int i)
{
	return i < ARRAY_SIZE(policies) ? policies[i] : NULL;
}

const struct avm_policy *avm_policy_find(const char *name)
{
	if (!name)
		return NULL;
	for (unsigned int i = 0; i < ARRAY_SIZE(policies); i++)
		if (!strcmp(policies[i]->name, name))
			return policies[i];
	return NULL;
}

/* ---- allocation ---------------------------------------------------------- */

bool avm_inject_fail(struct avm_world *w)
{
	w->alloc_count++;
	if (w->fail_nth && w->alloc_count == w->fail_nth) {
		w->fail_nth = 0;
		return true;
	}
	return false;
}

void *avm_zalloc(struct avm_world *w, size_t size)
{
	if (avm_inject_fail(w))
		return NULL;
	void *p = calloc(1, size);
	if (p)
		w->bytes += size;
	return p;
}

/*
 * calloc() and align by hand, the raw pointer kept just below the aligned
 * one: a large calloc() gets fresh zero pages from the kernel without
 * writing them, so a chunk's pages are only touched (and faulted in on
 * the host) as frames are handed out.
 */
void *avm_zalloc_aligned(struct avm_world *w, size_t size, size_t align)
{
	uintptr_t raw, p;

	AVM_ASSERT(align >= sizeof(void *) && !(align & (align - 1)));
	if (avm_inject_fail(w))
		return NULL;
	raw = (uintptr_t)calloc(1, size + align + sizeof(void *));
	if (!raw)
		return NULL;
	p = (raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
	((void **)p)[-1] = (void *)raw;
	w->bytes += size;
	return (void *)p;
}

void avm_free_aligned(struct avm_world *w, void *p, size_t size)
{
	if (!p)
		return;
	AVM_ASSERT(w->bytes >= size);
	w->bytes -= size;
	free(((void **)p)[-1]);
}

void avm_free(struct avm_world *w, void *p, size_t size)
{
	if (!p)
		return;
	AVM_ASSERT(w->bytes >= size);
	w->bytes -= size;
	free(p);
}

/* ---- folio->mapping handles ------------------------------------------------ */

/* Double both arrays.  Returns: 0 or -ENOMEM (nothing changed). */
static int mappings_grow(struct avm_world *w)
{
	uint32_t cap = w->cap_mappings ? w->cap_mappings * 2 : 64;
	void **tab;
	uint32_t *fr;

	if (cap > FRAME_MAPPING_MAX + 1)
		cap = FRAME_MAPPING_MAX + 1;
	if (cap <= w->cap_mappings)
		return -ENOMEM;
	tab = avm_zalloc(w, cap * sizeof(*tab));
	fr = tab ? avm_zalloc(w, cap * sizeof(*fr)) : NULL;
	if (!fr) {
		avm_free(w, tab, cap * sizeof(*tab));
		return -ENOMEM;
	}
	if (w->cap_mappings) {
		memcpy(tab, w->mappings, w->nr_mappings * sizeof(*tab));
		memcpy(fr, w->mapping_free, w->nr_mapping_free * sizeof(*fr));
	}
	avm_free(w, w->mappings, w->cap_mappings * sizeof(*tab));
	avm_free(w, w->mapping_free, w->cap_mappings * sizeof(*fr));
	w->mappings = tab;
	w->mapping_free = fr;
	if (!w->nr_mappings)
		w->nr_mappings = 1; /* handle 0 is "no mapping" */
	w->cap_mappings = cap;
	return 0;
}

uint32_t mapping_register(struct avm_world *w, void *obj)
{
	uint32_t h;

	AVM_ASSERT(obj);
	if (w->nr_mapping_free) {
		h = w->mapping_free[--w->nr_mapping_free];
	} else {
		if (w->nr_mappings == w->cap_mappings && mappings_grow(w))
			return 0;
		h = w->nr_mappings++;
	}
	w->mappings[h] = obj;
	return h;
}

void mapping_unregister(struct avm_world *w, uint32_t handle)
{
	AVM_ASSERT(handle && handle < w->nr_mappings && w->mappings[handle]);
	w->mappings[handle] = NULL;
	w->mapping_free[w->nr_mapping_free++] = handle;
}

unsigned long avm_fault_inject(struct avm_world *w, unsigned long nth)
{
	unsigned long seen = w->alloc_count;

	w->alloc_count = 0;
	w->fail_nth = nth;
	return seen;
}

/* xorshift64*: deterministic treap priorities. */
uint32_t avm_random(struct avm_world *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

void avm_assert_fail(const char *expr, const char *file, int line)
{
	/* A broken invariant is a bug in the model, never bad user input. */
	fprintf(stderr, "anonvm: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

void avm_debug_validate(struct avm_world *w)
{
#if AVM_DEBUG >= 3
	char buf[256];

	if (avm_validate(w, buf, sizeof(buf)) != 0) {
		fprintf(stderr, "anonvm: validator: %s\n", buf);
		abort();
	}
#else
	(void)w;
#endif
}

/* ---- world ---------------------------------------------------------------- */

void avm_config_default(struct avm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_map_count = AVM_DEFAULT_MAX_MAP_COUNT;
	cfg->read_fault_zero_page = true;
	cfg->swap_synchronous = true;
#ifdef AVM_HARD_PT_BITS
	cfg->pt_bits = AVM_HARD_PT_BITS;
#else
	cfg->pt_bits = 9;
#endif
	cfg->seed = 0x616e6f6e766dULL;
}

struct avm_world *avm_world_new(const struct avm_config *cfg)
{
	struct avm_config def;

	if (!cfg) {
		avm_config_default(&def);
		cfg = &def;
	}
	if (cfg->pt_bits < 1 || cfg->pt_bits > 9 || cfg->max_map_count == 0)
		return NULL;
	if (cfg->swap_slots > 0xfffffffeUL || cfg->max_frames > 0xfffffffeUL)
		return NULL;

	struct avm_world *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cfg = *cfg;
	w->policy = cfg->policy ? cfg->policy : &avm_policy_linux;
	w->cfg.policy = w->policy;
	w->rng = cfg->seed ? cfg->seed : 1;
	w->next_pid = 1;
	w->next_pin_handle = 1;
	w->next_vma_id = w->next_anon_vma_id = w->next_shmem_id = w->next_uffd_id = 1;
	list_init(&w->anon_vmas);
	if (frame_init(w) || swap_init(w)) {
		avm_world_free(w);
		return NULL;
	}
	return w;
}

void avm_world_free(struct avm_world *w)
{
	if (!w)
		return;
	for (int pid = 1; pid < w->nr_pid_slots; pid++)
		if (w->mm_by_pid[pid])
			(void)avm_exit(w, pid);
	gup_fini(w);
	swap_fini(w);
	frame_fini(w);
	avm_free(w, w->mappings, w->cap_mappings * sizeof(*w->mappings));
	avm_free(w, w->mapping_free, w->cap_mappings * sizeof(*w->mapping_free));
	free(w->mm_by_pid);
	free(w);
}

const struct avm_config *avm_world_config(const struct avm_world *w)
{
	return &w->cfg;
}

void avm_set_max_map_count(struct avm_world *w, unsigned long max)
{
	if (max)
		w->cfg.max_map_count = max;
}

const struct avm_stats *avm_stats(const struct avm_world *w)
{
	return &w->stats;
}

size_t avm_memory_bytes(const struct avm_world *w)
{
	return w->bytes;
}

/* ---- processes ------------------------------------------------------------ */

struct avm_mm *mm_find(const struct avm_world *w, int pid)
{
	if (pid <= 0 || pid >= w->nr_pid_slots)
		return NULL;
	return w->mm_by_pid[pid];
}

struct avm_mm *mm_alloc(struct avm_world *w)
{
	if (w->next_pid >= w->nr_pid_slots) {
		int n = w->nr_pid_slots ? w->nr_pid_slots * 2 : 64;
		if (avm_inject_fail(w))
			return NULL;
		struct avm_mm **p = realloc(w->mm_by_pid, (size_t)n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + w->nr_pid_slots, 0, (size_t)(n - w->nr_pid_slots) * sizeof(*p));
		w->mm_by_pid = p;
		w->nr_pid_slots = n;
	}
	struct avm_mm *mm = avm_zalloc(w, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->w = w;
	mm->pid = w->next_pid++;
	mm->mmap_base = AVM_ARENA_END;
	radix_init(&mm->pgtable, w->cfg.pt_bits);
	w->mm_by_pid[mm->pid] = mm;
	return mm;
}

void mm_free(struct avm_mm *mm)
{
	struct avm_world *w = mm->w;

	AVM_ASSERT(mm->map_count == 0 && mm->mm_mt.root == NULL);
	radix_destroy(w, &mm->pgtable);
	w->mm_by_pid[mm->pid] = NULL;
	avm_free(w, mm, sizeof(*mm));
}

int avm_spawn(struct avm_world *w)
{
	struct avm_mm *mm = mm_alloc(w);

	return mm ? mm->pid : -ENOMEM;
}

int avm_proc_next(const struct avm_world *w, unsigned long *cursor)
{
	for (unsigned long pid = *cursor + 1; pid < (unsigned long)w->nr_pid_slots; pid++) {
		if (w->mm_by_pid[pid]) {
			*cursor = pid;
			return (int)pid;
		}
	}
	*cursor = (unsigned long)w->nr_pid_slots;
	return 0;
}

/* ---- errno names ------------------------------------------------------------ */

const char *avm_errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ 0, "OK" },         { EPERM, "EPERM" },   { ENOENT, "ENOENT" },
		{ ESRCH, "ESRCH" },  { EINTR, "EINTR" },   { EIO, "EIO" },
		{ EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
		{ EFAULT, "EFAULT" }, { EBUSY, "EBUSY" },   { EEXIST, "EEXIST" },
		{ EINVAL, "EINVAL" }, { ENOSPC, "ENOSPC" }, { EOVERFLOW, "EOVERFLOW" },
		{ ENOSYS, "ENOSYS" }, { EHWPOISON, "EHWPOISON" }, { EMLINK, "EMLINK" },
	};

	if (err < 0)
		err = -err;
	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].err == err)
			return names[i].name;
	return "E?";
}
