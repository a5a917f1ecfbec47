/*
 * swap.c - swap slots, the swap cache and swap-in (do_swap_page, spec §8.4,
 * R8.15-R8.20, R11.13, R11.14).
 *
 * One swap device with slots 1..cfg.swap_slots (slot 0 is never handed
 * out, like offset 0 of a real swap area, so a swap PTE never names 0).
 * Per slot, three arrays in struct avm_world:
 *
 *   swap_map[s]      swap count: the swap PTEs naming s (I9).  The swap
 *                    cache's claim is not counted here (the kernel keeps it
 *                    as the separate SWAP_HAS_CACHE bit).
 *   swap_cache[s]    the frame cached for s, 0 = none.  The frame has
 *                    FRAME_SWAPCACHE, frame->swap == s, and one reference
 *                    held by the cache (I5).
 *   swap_content[s]  the content word written out to s.
 *
 * A slot is in use while swap_map[s] > 0 or swap_cache[s] != 0; swap_used
 * counts those.  A slot whose count dropped to 0 stays allocated as long as
 * its frame sits in the swap cache, exactly as the kernel keeps an entry
 * with only SWAP_HAS_CACHE left.
 *
 * Slot life cycle:
 *
 *   free --swap_alloc_cache() (pageout)--> cache only (count 0)
 *        --try_to_unmap: swap_dup() per PTE--> count n + cache
 *        --pageout writes, swapcache_del()--> count n, content in swap_content
 *        --swap_do_page / swap_free()--> count 0 --> free
 *
 * The device is either synchronous (zram: cfg.swap_synchronous, the host's
 * set-up) or a swapfile.  Only the swap-in path differs (R8.15): a
 * synchronous device reading a slot of count 1 bypasses the swap cache.
 */
#include "internal.h"

int swap_init(struct avm_world *w)
{
	unsigned long n = w->cfg.swap_slots;

	w->swap_used = 0;
	w->swap_hint = 1;
	if (n == 0)
		return 0;
	w->swap_map = avm_zalloc(w, (n + 1) * sizeof(*w->swap_map));
	w->swap_cache = avm_zalloc(w, (n + 1) * sizeof(*w->swap_cache));
	w->swap_content = avm_zalloc(w, (n + 1) * sizeof(*w->swap_content));
	if (!w->swap_map || !w->swap_cache || !w->swap_content) {
		swap_fini(w);
		return -ENOMEM;
	}
	return 0;
}

void swap_fini(struct avm_world *w)
{
	unsigned long n = w->cfg.swap_slots;

	avm_free(w, w->swap_map, (n + 1) * sizeof(*w->swap_map));
	avm_free(w, w->swap_cache, (n + 1) * sizeof(*w->swap_cache));
	avm_free(w, w->swap_content, (n + 1) * sizeof(*w->swap_content));
	w->swap_map = NULL;
	w->swap_cache = NULL;
	w->swap_content = NULL;
}

static bool slot_in_use(const struct avm_world *w, unsigned long slot)
{
	return w->swap_map[slot] || w->swap_cache[slot];
}

/* Release a slot nobody names any more (no PTE, no cache). */
static void slot_release(struct avm_world *w, unsigned long slot)
{
	AVM_ASSERT(!slot_in_use(w, slot) && w->swap_used > 0);
	w->swap_used--;
	w->swap_content[slot] = 0;
	if (slot < w->swap_hint)
		w->swap_hint = slot;
}

/*
 * Find a free slot.  swap_hint is a lower bound on the lowest free slot, so
 * slots are handed out lowest first (the kernel's cluster allocator also
 * starts low on an empty device) and a search is amortised O(1) while the
 * device fills up.
 */
static int slot_find(struct avm_world *w, unsigned long *slot)
{
	unsigned long n = w->cfg.swap_slots;

	if (n == 0 || w->swap_used >= n)
		return -ENOMEM;
	if (avm_inject_fail(w))
		return -ENOMEM;
	for (unsigned long s = avm_max(w->swap_hint, 1UL); s <= n; s++) {
		if (!slot_in_use(w, s)) {
			w->swap_hint = s + 1;
			*slot = s;
			return 0;
		}
	}
	AVM_ASSERT(!"swap_used below the device size but no free slot");
	return -ENOMEM;
}

int swap_alloc(struct avm_world *w, unsigned long *slot)
{
	int err = slot_find(w, slot);

	if (err)
		return err;
	w->swap_map[*slot] = 1;
	w->swap_used++;
	return 0;
}

/*
 * swap_alloc_cache() - folio_alloc_swap() + add_to_swap_cache() as
 * shrink_folio_list() does before unmapping (R11.6): a fresh slot with
 * count 0, held by the swap cache, which takes a reference on @pfn.
 * Returns: 0 and *slot, or -ENOMEM (no swap device, device full, or an
 * injected failure); nothing changed then.
 */
int swap_alloc_cache(struct avm_world *w, unsigned long pfn, unsigned long *slot)
{
	int err = slot_find(w, slot);

	if (err)
		return err;
	w->swap_used++;
	w->swap_map[*slot] = 0;
	swapcache_add(w, pfn, *slot);
	return 0;
}

void swap_dup(struct avm_world *w, unsigned long slot)
{
	AVM_ASSERT(slot >= 1 && slot <= w->cfg.swap_slots && slot_in_use(w, slot));
	w->swap_map[slot]++;
}

/*
 * vm_swap_full(): more than half of the device in use.  Without memcg this
 * is what mem_cgroup_swap_full() answers (R8.19).
 */
bool swap_full(const struct avm_world *w)
{
	unsigned long n = w->cfg.swap_slots;

	return (n - w->swap_used) * 2 < n;
}

/* swap_put_entries without touching the cache: the count only. */
static void swap_put(struct avm_world *w, unsigned long slot)
{
	AVM_ASSERT(slot >= 1 && slot <= w->cfg.swap_slots && w->swap_map[slot] > 0);
	if (--w->swap_map[slot] == 0 && !w->swap_cache[slot])
		slot_release(w, slot);
}

/*
 * free_swap_and_cache(): the zap side.  When the count reaches 0 and a frame
 * is cached for the slot, __try_to_reclaim_swap(TTRS_UNMAPPED | TTRS_FULL)
 * drops the cache if no PTE maps the frame or if swap is more than half
 * full.
 */
void swap_free(struct avm_world *w, unsigned long slot)
{
	swap_put(w, slot);
	if (w->swap_map[slot] == 0 && w->swap_cache[slot]) {
		unsigned long pfn = w->swap_cache[slot];
		if (frame(w, pfn)->mapcount == 0 || swap_full(w))
			swapcache_del(w, pfn);
	}
}

unsigned long swapcache_lookup(const struct avm_world *w, unsigned long slot)
{
	if (slot == 0 || slot > w->cfg.swap_slots)
		return 0;
	return w->swap_cache[slot];
}

void swapcache_add(struct avm_world *w, unsigned long pfn, unsigned long slot)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(!(f->flags & FRAME_SWAPCACHE) && !w->swap_cache[slot]);
	f->flags |= FRAME_SWAPCACHE;
	f->swap = (uint32_t)slot;
	w->swap_cache[slot] = (uint32_t)pfn;
	frame_get(w, pfn);
}

/*
 * swapcache_del() - __delete_from_swap_cache() + put_swap_folio().  If PTEs
 * still name the slot, the frame's content is what they will read back, so
 * it is written out first (a dirty swap-cache folio is written before it
 * may leave the cache; the model never loses that write).
 */
void swapcache_del(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);
	unsigned long slot = f->swap;

	AVM_ASSERT((f->flags & FRAME_SWAPCACHE) && w->swap_cache[slot] == pfn);
	if (w->swap_map[slot])
		w->swap_content[slot] = frame_content(f);
	f->flags &= ~FRAME_SWAPCACHE;
	f->swap = 0;
	w->swap_cache[slot] = 0;
	if (w->swap_map[slot] == 0)
		slot_release(w, slot);
	frame_put(w, pfn);
}

/*
 * folio_free_swap(): drop the swap cache only when no swap PTE names the
 * slot any more (folio_swapped() false).  The folio becomes dirty: its only
 * copy is now in memory.  The caller holds a reference of its own (a PTE
 * or a lookup), so the frame survives.
 */
bool swap_folio_free(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	if (!(f->flags & FRAME_SWAPCACHE) || w->swap_map[f->swap])
		return false;
	AVM_ASSERT(f->refcount > 1);
	f->flags |= FRAME_DIRTY;
	swapcache_del(w, pfn);
	return true;
}

/*
 * should_try_to_free_swap() (R8.19), asked after the PTE's own reference
 * was taken: "refcount == 1 + nr_pages" counts the faulting lookup's
 * reference (our new PTE) and the swap cache's.
 */
static bool should_try_to_free_swap(struct avm_world *w, struct avm_frame *f,
				    struct avm_vma *vma, unsigned int fault_flags)
{
	if (!(f->flags & FRAME_SWAPCACHE))
		return false;
	if (swap_full(w) || (vma->vm_flags & AVM_VM_LOCKED) || (f->flags & FRAME_MLOCKED))
		return true;
	return (fault_flags & FAULT_FLAG_WRITE) && f->refcount == 2;
}

/*
 * Bring the slot's content into a frame.  Returns: 0 and *pfn with a
 * reference for the caller (the future PTE's) and *fresh telling whether
 * the frame bypassed the swap cache, or -ENOMEM.
 */
static int swapin_frame(struct avm_world *w, unsigned long slot, unsigned long *pfn, bool *fresh)
{
	unsigned long p = swapcache_lookup(w, slot);
	int err;

	if (p) {
		/* Swap-cache hit: no I/O (R8.15). */
		frame_get(w, p);
		*pfn = p;
		*fresh = false;
		return 0;
	}
	err = frame_alloc(w, &p);
	if (err)
		return err;
	frame_set_content(frame(w, p), w->swap_content[slot]);
	w->stats.swap_in++;
	if (w->cfg.swap_synchronous && w->swap_map[slot] == 1) {
		/* SWP_SYNCHRONOUS_IO with a single user: skip the swap cache. */
		*fresh = true;
	} else {
		/* swapin_readahead(): the folio is read into the swap cache. */
		frame(w, p)->flags |= FRAME_SWAPBACKED;
		swapcache_add(w, p, slot);
		*fresh = false;
	}
	*pfn = p;
	return 0;
}

/*
 * swap_read_cache_async() - read_swap_cache_async() as MADV_WILLNEED uses
 * it (swapin_walk_pmd_entry(), R13 WILLNEED / R8.15): a slot still in use
 * and not cached is read into a new swap-cache folio, which nothing maps
 * yet; the caller's reference is dropped at once, so only the cache holds
 * it.  A later fault finds it there (a cache hit, no I/O).  Failure to
 * allocate is ignored, as the kernel ignores it.
 */
void swap_read_cache_async(struct avm_world *w, unsigned long slot)
{
	unsigned long p;

	if (slot < 1 || slot > w->cfg.swap_slots || !w->swap_map[slot] ||
	    swapcache_lookup(w, slot))
		return;
	if (frame_alloc(w, &p))
		return;
	frame_set_content(frame(w, p), w->swap_content[slot]);
	frame(w, p)->flags |= FRAME_SWAPBACKED;
	w->stats.swap_in++;
	swapcache_add(w, p, slot);
	frame_put(w, p);
}

/*
 * swap_do_page() - do_swap_page() for one small folio.
 *
 *   swap PTE --(cache hit | sync read | read into cache)--> frame
 *     exclusive = PTE's exclusive bit, or true for a fresh frame (R8.16)
 *     swap count -1; maybe drop the swap cache (R8.19)
 *     writable iff (exclusive || refcount == 1) && VM_WRITE (R8.17)
 *     rmap: new anon (own anon_vma if exclusive, else root) or add (R8.18)
 *   write fault still read-only --> the wp path (R8.20)
 *
 * Context: *ptep is a swap PTE of @vma at @addr; vma->anon_vma is set (the
 * page was anonymous when it went out).  Counts faults_swapin always and
 * swap_in when the content was read from the device.
 * Returns: 0, or -ENOMEM (nothing changed).
 */
int swap_do_page(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr, uint64_t *ptep,
		 unsigned int fault_flags)
{
	struct avm_world *w = mm->w;
	uint64_t orig = *ptep;
	unsigned long slot = pte_swp_slot(orig);
	unsigned long pfn;
	bool fresh, exclusive;
	int err;

	AVM_ASSERT(pte_is_swap(orig) && slot >= 1 && slot <= w->cfg.swap_slots);
	AVM_ASSERT(vma->anon_vma);
	err = swapin_frame(w, slot, &pfn, &fresh);
	if (err)
		return err;
	w->stats.faults_swapin++;

	struct avm_frame *f = frame(w, pfn);
	/* R8.16 (no stable-writes device here, so writeback never forces false). */
	exclusive = fresh || pte_swp_exclusive(orig);

	/* R8.19: the PTE's swap reference goes, then perhaps the cache. */
	swap_put(w, slot);
	if (should_try_to_free_swap(w, f, vma, fault_flags))
		swap_folio_free(w, pfn);
	mm->rss_anon++;
	AVM_ASSERT(mm->swapents > 0);
	mm->swapents--;

	/* x86 vm_page_prot carries the accessed bit: the new PTE is young. */
	uint64_t pte = PTE_YOUNG | (orig & (PTE_SOFTDIRTY | PTE_UFFD_WP));
	bool rmap_exclusive = false;
	/* R8.17: refcount 1 here means our PTE's reference is the only one. */
	if (exclusive || f->refcount == 1) {
		if ((vma->vm_flags & AVM_VM_WRITE) && !(orig & PTE_UFFD_WP)) {
			pte |= PTE_WRITE;
			if (fault_flags & FAULT_FLAG_WRITE) {
				pte |= PTE_DIRTY;
				fault_flags &= ~FAULT_FLAG_WRITE;
			}
		}
		rmap_exclusive = true;
	}
	/* R8.18 */
	if (!(f->flags & FRAME_ANON))
		rmap_add_new_anon(w, pfn, vma, addr, rmap_exclusive);
	else
		rmap_add_anon(w, pfn, vma, addr, rmap_exclusive);
	*ptep = pte_mk(pfn, pte);

	/* R8.20: a write that could not be granted goes on to do_wp_page(). */
	if (fault_flags & FAULT_FLAG_WRITE)
		return fault_handle(mm, vma, addr, fault_flags);
	return 0;
}

unsigned long avm_swap_used(const struct avm_world *w)
{
	return w->swap_used;
}
