/*
 * fault.c - user memory access and page faults (spec §8), after
 * mm/memory.c: handle_mm_fault() -> handle_pte_fault() -> one of
 *
 *   do_anonymous_page()  empty PTE, private anonymous VMA   (R8.3-R8.7)
 *   shmem_fault()        empty PTE, shared anonymous VMA    (R6.3)
 *   swap_do_page()       swap entry (swap.c)                (R8.15-R8.20)
 *   do_wp_page()         write or unshare on a read-only PTE (R8.8-R8.14)
 *
 * The access check (R8.2, x86 access_error()) is done by the callers:
 * user_access() below for loads and stores, gup.c for pins.
 *
 * PTE bits written here follow x86: a fresh PTE carries the accessed bit
 * (vm_page_prot has _PAGE_ACCESSED), pte_mkdirty() sets dirty and
 * soft-dirty, a hardware store through a writable PTE sets only dirty.
 *
 * Zero page: with cfg.read_fault_zero_page (standard Linux) a read fault
 * maps pfn 0 read-only (R8.3).  This machine's kernel is booted without it
 * (spec/host-kernel.md): a read fault then takes the allocating path of a
 * write fault (anon_vma prepared, private zeroed page, writable and dirty
 * if VM_WRITE, PG_anon_exclusive).
 *
 * Migration entries are never created by this model (there is no
 * concurrent migration to wait for).  Should one appear, a fault restores
 * it as remove_migration_pte() would (R11.11).  Like the validator, the
 * model lets such an entry hold nothing (no reference, no mapcount, no
 * rss): the restore takes them.
 */
#include "internal.h"

/* userfaultfd_missing(): faults on empty PTEs go to userspace (R12). */
static inline bool userfault_missing(const struct avm_vma *vma)
{
	return vma->uffd_ctx && (vma->vm_flags & AVM_VM_UFFD_MISSING);
}

/* Bits of a PTE mapping a freshly allocated private page (R8.6). */
static inline uint64_t new_anon_pte_bits(const struct avm_vma *vma)
{
	if (vma->vm_flags & AVM_VM_WRITE)
		return PTE_YOUNG | PTE_WRITE | PTE_DIRTY | PTE_SOFTDIRTY;
	return PTE_YOUNG;
}

/* ---- do_anonymous_page (R8.3-R8.7) ---------------------------------- */

static int do_anonymous_page(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			     uint64_t *ptep, unsigned int flags)
{
	struct avm_world *w = mm->w;
	unsigned long pfn;

	/* R8.1: a shared VMA without a shmem object cannot be filled. */
	if (vma->vm_flags & AVM_VM_SHARED)
		return -AVM_ESIGBUS;

	if (!(flags & FAULT_FLAG_WRITE) && w->cfg.read_fault_zero_page) {
		/* R8.3: no folio, no anon_vma, no rss, no rmap. */
		if (userfault_missing(vma))
			return -AVM_ESIGBUS;
		*ptep = pte_mk(0, PTE_SPECIAL | PTE_YOUNG);
		w->stats.faults_zero_page++;
		return 0;
	}

	/* R8.5: vmf_anon_prepare() comes before the allocation ... */
	if (anon_vma_prepare(vma))
		return -ENOMEM;
	if (frame_alloc(w, &pfn))
		return -ENOMEM;
	/*
	 * ... and the userfault check after it, under the PTE lock: a
	 * missing-registered VMA thus gains an anon_vma even though the fault
	 * goes to userspace (raised as SIGBUS, as UFFD_FEATURE_SIGBUS does).
	 */
	if (userfault_missing(vma)) {
		frame_put(w, pfn);
		return -AVM_ESIGBUS;
	}
	/* R8.6: exclusive, filed under the VMA's own anon_vma. */
	rmap_add_new_anon(w, pfn, vma, addr, true);
	lru_add_vma_frame(w, pfn, vma->vm_flags);
	*ptep = pte_mk(pfn, new_anon_pte_bits(vma));
	mm->rss_anon++;
	return 0;
}

/* ---- shared anonymous memory (R6.3) ---------------------------------- */

/* Pages of one x86 PTE table, and the default fault_around_bytes. */
#define PTRS_PER_PTE 512UL
#define FAULT_AROUND_PAGES 16UL

static void shmem_map(struct avm_mm *mm, struct avm_vma *vma, unsigned long pfn,
		      uint64_t *ptep, bool write)
{
	uint64_t bits = PTE_YOUNG;

	/*
	 * A shared writable mapping needs no write notification (shmem has no
	 * page_mkwrite and no writeback), so vm_page_prot is writable and even
	 * read faults map the page writable.
	 */
	if (vma->vm_flags & AVM_VM_WRITE)
		bits |= PTE_WRITE;
	if (write)
		bits |= PTE_DIRTY | PTE_SOFTDIRTY;
	frame_get(mm->w, pfn);
	rmap_add_shmem(mm->w, pfn);
	/* __folio_add_file_rmap() ends with mlock_vma_folio() (R13.2). */
	mlock_vma_frame(mm->w, pfn, vma->vm_flags);
	*ptep = pte_mk(pfn, bits);
	mm->rss_shmem++;
}

/*
 * do_fault_around() + filemap_map_pages(): a read fault also maps the pages
 * already in the page cache within the 16-page aligned window around the
 * address (cut to the VMA and to the x86 PTE table of 512 entries) whose
 * PTEs are empty.  The window is x86's whatever our pt_bits: small radix
 * levels (hard mode) allocate a table for a neighbour when one is needed,
 * and skip the neighbour if that fails (fault-around is best effort).
 */
static void shmem_fault_around(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr)
{
	struct avm_shmem *sh = vma->shmem;
	unsigned long pte_off = (addr >> AVM_PAGE_SHIFT) & (PTRS_PER_PTE - 1);
	unsigned long vma_off = (addr - vma->vm_start) >> AVM_PAGE_SHIFT;
	unsigned long from = pte_off & ~(FAULT_AROUND_PAGES - 1);
	unsigned long to;

	if (from < pte_off - avm_min(pte_off, vma_off))
		from = pte_off - avm_min(pte_off, vma_off);
	to = avm_min(from + FAULT_AROUND_PAGES, PTRS_PER_PTE);
	to = avm_min(to, pte_off + vma_pages(vma) - vma_off);
	for (unsigned long i = from; i < to; i++) {
		unsigned long a = addr + (i - pte_off) * AVM_PAGE_SIZE;
		if (a == addr)
			continue;
		unsigned long pgoff = linear_page_index(vma, a);
		if (pgoff >= sh->size)
			continue;
		uint64_t *slot = radix_lookup(&sh->pages, pgoff);
		/* filemap_map_pages() maps cached folios only, never swap entries. */
		if (!slot || !*slot || shmem_entry_is_swap(*slot))
			continue;
		uint64_t *ptep = radix_slot(mm->w, &mm->pgtable, a >> AVM_PAGE_SHIFT);
		if (ptep && pte_none(*ptep))
			shmem_map(mm, vma, (unsigned long)*slot, ptep, false);
	}
}

/*
 * shmem_swapin_folio(): the page at @pgoff was written to swap by reclaim
 * (*slot is its swap entry).  Read it back (or take it from the swap
 * cache), put it into the page cache dirty, out of the swap cache, and
 * free the swap entry.  Returns: 0, or -ENOMEM with nothing changed.
 */
static int shmem_swapin(struct avm_world *w, struct avm_shmem *sh, unsigned long pgoff,
			uint64_t *slot)
{
	unsigned long s = shmem_entry_slot(*slot);
	unsigned long pfn = swapcache_lookup(w, s);

	if (pfn) {
		frame_get(w, pfn); /* becomes the page cache's reference */
		swapcache_del(w, pfn);
	} else {
		if (frame_alloc(w, &pfn))
			return -ENOMEM;
		frame_set_content(frame(w, pfn), w->swap_content[s]);
		w->stats.swap_in++;
	}
	struct avm_frame *f = frame(w, pfn);
	f->flags = (f->flags & FRAME_MLOCKED) | FRAME_SHMEM | FRAME_SWAPBACKED | FRAME_DIRTY;
	frame_set_mapping(f, sh->handle);
	frame_set_index(f, pgoff);
	*slot = pfn;
	swap_free(w, s);
	return 0;
}

static int shmem_fault(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
		       uint64_t *ptep, unsigned int flags)
{
	struct avm_world *w = mm->w;
	struct avm_shmem *sh = vma->shmem;
	unsigned long pgoff = linear_page_index(vma, addr);
	bool write = flags & FAULT_FLAG_WRITE;
	unsigned long pfn;

	/*
	 * should_fault_around(): read faults only; uffd_disable_fault_around()
	 * refuses only uffd-wp (and minor) VMAs.  do_read_fault() faults
	 * around before ->fault() looks at the page itself, so a missing-mode
	 * VMA, or an address beyond the object's end, still maps the cached
	 * neighbours (those below the end: filemap_map_pages() clamps) before
	 * failing (host).
	 */
	if (!write && !(vma->vm_flags & AVM_VM_UFFD_WP))
		shmem_fault_around(mm, vma, addr);
	/* Beyond the object's size: shmem_fault() gives SIGBUS. */
	if (pgoff >= sh->size)
		return -AVM_ESIGBUS;

	uint64_t *slot = radix_lookup(&sh->pages, pgoff);
	if (slot && shmem_entry_is_swap(*slot)) {
		int err = shmem_swapin(w, sh, pgoff, slot);
		if (err)
			return err;
	}
	pfn = slot ? (unsigned long)*slot : 0;
	if (!pfn) {
		if (userfault_missing(vma))
			return -AVM_ESIGBUS;
		slot = radix_slot(w, &sh->pages, pgoff);
		if (!slot)
			return -ENOMEM;
		if (frame_alloc(w, &pfn))
			return -ENOMEM;
		/* The page cache holds the frame_alloc() reference. */
		struct avm_frame *f = frame(w, pfn);
		f->flags = FRAME_SHMEM | FRAME_SWAPBACKED;
		frame_set_mapping(f, sh->handle);
		frame_set_index(f, pgoff);
		*slot = pfn;
	}
	shmem_map(mm, vma, pfn, ptep, write);
	return 0;
}

/* ---- do_wp_page (R8.8-R8.14) ---------------------------------------- */

/*
 * wp_can_reuse_anon_folio() for a small folio (R8.10).  The refcount, not
 * the mapcount, decides: a GUP reference or a swap-cache entry still
 * referenced by a swap PTE elsewhere forces a copy.
 */
static bool wp_can_reuse(struct avm_world *w, unsigned long pfn, struct avm_vma *vma)
{
	struct avm_frame *f = frame(w, pfn);
	unsigned int cached = (f->flags & FRAME_SWAPCACHE) ? 1 : 0;

	if (f->refcount > 3)
		return false;
	if (f->refcount > 1 + cached)
		return false;
	/* Step 6: folio_free_swap() succeeds only when no swap PTE is left. */
	if (cached)
		swap_folio_free(w, pfn);
	if (f->refcount != 1)
		return false;
	rmap_move_anon(w, pfn, vma); /* R8.10 step 8, R11.5 */
	return true;
}

/*
 * wp_page_copy() (R8.12): a new exclusive page for this VMA, zeroed when
 * the old PTE mapped the zero page, else a copy.  Unshare maps it
 * read-only and keeps the old soft-dirty and uffd-wp bits (R8.14).
 */
static int wp_page_copy(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			uint64_t *ptep, unsigned int flags)
{
	struct avm_world *w = mm->w;
	uint64_t old = *ptep;
	unsigned long old_pfn = pte_zero(old) ? 0 : pte_pfn(old);
	unsigned long pfn;
	uint64_t bits;

	if (anon_vma_prepare(vma))
		return -ENOMEM;
	if (frame_alloc(w, &pfn))
		return -ENOMEM;
	frame_set_content(frame(w, pfn), old_pfn ? frame_content(frame(w, old_pfn)) : 0);
	rmap_add_new_anon(w, pfn, vma, addr, true);
	lru_add_vma_frame(w, pfn, vma->vm_flags);
	if (flags & FAULT_FLAG_WRITE)
		bits = new_anon_pte_bits(vma);
	else
		bits = PTE_YOUNG | (old & (PTE_SOFTDIRTY | PTE_UFFD_WP));
	*ptep = pte_mk(pfn, bits);
	mm->rss_anon++;
	w->stats.cow_copy++;
	if (!old_pfn)
		return 0;

	struct avm_frame *of = frame(w, old_pfn);
	rmap_remove(w, old_pfn, vma);
	if (of->flags & FRAME_SHMEM)
		mm->rss_shmem--;
	else
		mm->rss_anon--;
	/* free_swap_cache(): an unmapped swap-cache copy goes if no swap PTE needs it. */
	if ((of->flags & FRAME_SWAPCACHE) && of->mapcount == 0)
		swap_folio_free(w, old_pfn);
	frame_put(w, old_pfn);
	return 0;
}

static int do_wp_page(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
		      uint64_t *ptep, unsigned int flags)
{
	struct avm_world *w = mm->w;
	bool unshare = !(flags & FAULT_FLAG_WRITE);
	uint64_t pte = *ptep;

	if (vma->vm_flags & AVM_VM_SHARED) {
		/* wp_page_shared(): shared pages are made writable in place. */
		if (unshare)
			return 0;
		*ptep = pte | PTE_YOUNG | PTE_DIRTY | PTE_SOFTDIRTY |
			((vma->vm_flags & AVM_VM_WRITE) ? PTE_WRITE : 0);
		return 0;
	}
	if (!pte_zero(pte)) {
		unsigned long pfn = pte_pfn(pte);
		struct avm_frame *f = frame(w, pfn);

		/* R8.9: reuse an exclusive page, or one R8.10 proves unshared. */
		if ((f->flags & FRAME_ANON) &&
		    ((f->flags & FRAME_ANON_EXCLUSIVE) || wp_can_reuse(w, pfn, vma))) {
			f->flags |= FRAME_ANON_EXCLUSIVE;
			w->stats.cow_reuse++;
			if (unshare)
				return 0; /* R8.14: the PTE stays read-only */
			/* wp_page_reuse() */
			*ptep = pte | PTE_YOUNG | PTE_DIRTY | PTE_SOFTDIRTY |
				((vma->vm_flags & AVM_VM_WRITE) ? PTE_WRITE : 0);
			return 0;
		}
	}
	return wp_page_copy(mm, vma, addr, ptep, flags);
}

/* ---- migration entries (never created here; see the file comment) ---- */

static int migration_restore(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			     uint64_t *ptep)
{
	uint64_t pte = *ptep, type = pte_type(pte);
	unsigned long pfn = pte_pfn(pte);
	bool writable = type == PTE_TYPE_MIGR_WRITE;
	bool exclusive = writable || type == PTE_TYPE_MIGR_READ_EXCL;
	uint64_t bits = PTE_YOUNG | (pte & (PTE_SOFTDIRTY | PTE_UFFD_WP));

	/* R11.11 */
	frame_get(mm->w, pfn);
	rmap_add_anon(mm->w, pfn, vma, addr, exclusive);
	mm->rss_anon++;
	if (writable && (vma->vm_flags & AVM_VM_WRITE))
		bits |= PTE_WRITE | PTE_DIRTY;
	*ptep = pte_mk(pfn, bits);
	return 0;
}

/* ---- handle_mm_fault ------------------------------------------------- */

/*
 * fault_handle() - handle_pte_fault() for one page of @vma.
 * Returns: 0, -ENOMEM (VM_FAULT_OOM), -AVM_ESIGBUS (userfault on a
 * missing-registered VMA, shmem beyond its size), -AVM_ESIGSEGV (guard).
 * Context: the caller checked the access against vm_flags (R8.2).
 */
int fault_handle(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
		 unsigned int flags)
{
	struct avm_world *w = mm->w;
	uint64_t *ptep, pte;

	addr &= AVM_PAGE_MASK;
	AVM_ASSERT(addr >= vma->vm_start && addr < vma->vm_end);
	if (flags & FAULT_FLAG_WRITE)
		w->stats.faults_write++;
	else if (flags & FAULT_FLAG_UNSHARE)
		w->stats.faults_unshare++;
	else
		w->stats.faults_read++;

	/* pte_alloc(): the table is needed whatever the entry holds. */
	ptep = radix_slot(w, &mm->pgtable, addr >> AVM_PAGE_SHIFT);
	if (!ptep)
		return -ENOMEM;
	pte = *ptep;
	if (pte_none(pte)) {
		if (vma->shmem)
			return shmem_fault(mm, vma, addr, ptep, flags);
		return do_anonymous_page(mm, vma, addr, ptep, flags);
	}
	if (!pte_present(pte)) {
		if (pte_is_swap(pte))
			return swap_do_page(mm, vma, addr, ptep, flags);
		if (pte_is_guard(pte))
			return -AVM_ESIGSEGV; /* R13.11 */
		if (pte_is_migration(pte))
			return migration_restore(mm, vma, addr, ptep);
		AVM_ASSERT(0 && "unknown non-present PTE");
		return -AVM_ESIGBUS;
	}
	if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) {
		if (!pte_write(pte))
			return do_wp_page(mm, vma, addr, ptep, flags);
		if (flags & FAULT_FLAG_WRITE)
			pte |= PTE_DIRTY | PTE_SOFTDIRTY;
	}
	/* A spurious fault: the entry already allows the access. */
	*ptep = pte | PTE_YOUNG;
	return 0;
}

/* Does the PTE let GUP or a populate walk take the page as it is? */
static inline bool pte_satisfies(uint64_t pte, bool write)
{
	return pte_present(pte) && (!write || pte_write(pte));
}

/*
 * fault_populate() - populate_vma_page_range() over [start, end) of @vma
 * (R8.22): write faults when @write, else read faults.  Pages already
 * present (writable for @write) are left alone.
 * Returns: 0, -ENOMEM, or -EFAULT (a fault that would raise SIGSEGV or
 * SIGBUS: guard marker, userfault, shmem past its size).
 */
int fault_populate(struct avm_mm *mm, struct avm_vma *vma, unsigned long start,
		   unsigned long end, bool write)
{
	start &= AVM_PAGE_MASK;
	AVM_ASSERT(start >= vma->vm_start && end <= vma->vm_end);
	for (unsigned long a = start; a < end; a += AVM_PAGE_SIZE) {
		for (int tries = 0;; tries++) {
			if (pte_satisfies(pt_get(mm, a), write))
				break;
			AVM_ASSERT(tries < 4);
			int ret = fault_handle(mm, vma, a, write ? FAULT_FLAG_WRITE : 0);
			if (ret == -AVM_ESIGBUS || ret == -AVM_ESIGSEGV)
				return -EFAULT;
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* ---- user loads and stores -------------------------------------------- */

/*
 * One user access to the page of @addr: the arch fault handler's
 * access_error() (R8.2, x86: a read needs any of read/write/exec, since
 * x86 cannot map write-only or exec-only), then faults until the PTE
 * allows the access, then the load or store.  @val is NULL for a touch.
 */
static int user_access(struct avm_mm *mm, unsigned long addr, bool write, uint64_t *val)
{
	struct avm_vma *vma;

	if (addr >= AVM_TASK_SIZE)
		return -AVM_ESIGSEGV;
	vma = vma_lookup(mm, addr);
	if (!vma)
		return -AVM_ESIGSEGV;
	if (write ? !(vma->vm_flags & AVM_VM_WRITE)
		  : !(vma->vm_flags & (AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC)))
		return -AVM_ESIGSEGV;

	for (int tries = 0;; tries++) {
		uint64_t *ptep = pt_lookup(mm, addr);
		if (ptep && pte_satisfies(*ptep, write)) {
			/* The MMU sets accessed, and dirty on a store. */
			*ptep |= PTE_YOUNG | (write ? PTE_DIRTY : 0);
			struct avm_frame *f = frame(mm->w, pte_pfn(*ptep));
			if (val && write)
				frame_set_content(f, *val);
			else if (val)
				*val = pte_zero(*ptep) ? 0 : frame_content(f);
			return 0;
		}
		AVM_ASSERT(tries < 4);
		int ret = fault_handle(mm, vma, addr, write ? FAULT_FLAG_WRITE : 0);
		if (ret)
			return ret;
	}
}

int avm_read(struct avm_world *w, int pid, unsigned long addr, uint64_t *val)
{
	struct avm_mm *mm = mm_find(w, pid);
	uint64_t v = 0;
	int ret;

	if (!mm)
		return -ESRCH;
	ret = user_access(mm, addr, false, &v);
	if (!ret && val)
		*val = v;
	avm_debug_validate(w);
	return ret;
}

int avm_write(struct avm_world *w, int pid, unsigned long addr, uint64_t val)
{
	struct avm_mm *mm = mm_find(w, pid);
	int ret;

	if (!mm)
		return -ESRCH;
	ret = user_access(mm, addr, true, &val);
	avm_debug_validate(w);
	return ret;
}

/*
 * avm_touch() - a load or store-without-change on every page of
 * [addr, addr + len).  Stops at the first page that faults fatally.
 * Returns: 0, -ESRCH, -EINVAL (range wraps), or the access's error.
 */
int avm_touch(struct avm_world *w, int pid, unsigned long addr, unsigned long len, bool write)
{
	struct avm_mm *mm = mm_find(w, pid);
	unsigned long start = addr & AVM_PAGE_MASK, end;
	int ret = 0;

	if (!mm)
		return -ESRCH;
	if (len == 0)
		return 0;
	if (addr + len < addr || PAGE_ALIGN(addr + len) < addr + len)
		return -EINVAL;
	end = PAGE_ALIGN(addr + len);
	for (unsigned long a = start; a < end && !ret; a += AVM_PAGE_SIZE)
		ret = user_access(mm, a, write, NULL);
	avm_debug_validate(w);
	return ret;
}
