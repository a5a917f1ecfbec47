/*
 * gup.c - GUP pins and references (spec §10), after mm/gup.c:
 * __get_user_pages() with FOLL_PIN (pin_user_pages(), +1024 per small
 * folio, R10.1) or FOLL_GET (get_user_pages(), +1).
 *
 * The lockless GUP-fast walk runs first (gup_fast_one()); from the first
 * page it refuses, per page, as follow_page_mask() + faultin_page() loop:
 *   - no usable PTE (none, swap, not writable for a write pin): fault it in
 *     (FAULT_FLAG_WRITE for write pins, R10.5) and look again;
 *   - a read-only pin on an anonymous page that is not PageAnonExclusive,
 *     or with FOLL_LONGTERM on the zero page of a COW mapping, first runs an
 *     unshare fault (gup_must_unshare(), R10.4, R8.14);
 *   - then the reference is taken (try_grab_folio()); the zero page takes
 *     none for FOLL_PIN (pfn 0 is recorded in the set).
 * All-or-nothing: on an error the references taken so far are dropped
 * (faults already done stay, as in the kernel).
 *
 * A set lives in w->pins until avm_unpin(); its frames stay allocated even
 * after every process mapping them has exited.  stats.pins / refs /
 * unpins count pages.  mm->pinned_vm is not charged: io_uring, the only
 * long-term pinner modelled, accounts user->locked_vm instead.
 */
#include "internal.h"

static struct avm_pinset *pinset_find(const struct avm_world *w, int handle, int *idx)
{
	for (int i = 0; i < w->nr_pins; i++) {
		if (w->pins[i]->handle == handle) {
			if (idx)
				*idx = i;
			return w->pins[i];
		}
	}
	return NULL;
}

static size_t pinset_bytes(unsigned long n)
{
	return sizeof(struct avm_pinset) + n * sizeof(unsigned long);
}

/* Drop what page @i of a set holds. */
static void pinset_release_one(struct avm_world *w, struct avm_pinset *ps, unsigned long i)
{
	unsigned long pfn = ps->pfns[i];

	if (pfn == 0)
		return;
	if (ps->is_pin) {
		struct avm_frame *f = frame(w, pfn);
		AVM_ASSERT(f->refcount >= AVM_GUP_PIN_COUNTING_BIAS);
		f->refcount -= AVM_GUP_PIN_COUNTING_BIAS - 1;
	}
	frame_put(w, pfn);
}

/* check_vma_flags() without FOLL_FORCE. */
static int gup_check_vma(const struct avm_vma *vma, bool write)
{
	if (vma->vm_flags & (AVM_VM_IO | AVM_VM_PFNMAP))
		return -EFAULT;
	if (write ? !(vma->vm_flags & AVM_VM_WRITE) : !(vma->vm_flags & AVM_VM_READ))
		return -EFAULT;
	return 0;
}

/* gup_must_unshare() for a present PTE (R10.4). */
static bool must_unshare(struct avm_world *w, const struct avm_vma *vma, uint64_t pte,
			 bool pin, bool write, bool longterm)
{
	if (!pin || write)
		return false;
	if (pte_zero(pte))
		return longterm && page_cow_mapping(vma->vm_flags);
	const struct avm_frame *f = frame(w, pte_pfn(pte));
	if (!(f->flags & FRAME_ANON))
		return longterm && page_cow_mapping(vma->vm_flags);
	return !(f->flags & FRAME_ANON_EXCLUSIVE);
}

/* Fault errors as GUP reports them: SIGSEGV / SIGBUS become -EFAULT. */
static int gup_fault(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
		     unsigned int flags)
{
	int ret = fault_handle(mm, vma, addr, flags);

	if (ret == -AVM_ESIGSEGV || ret == -AVM_ESIGBUS)
		return -EFAULT;
	return ret;
}

/* Find, fault in if needed, and grab page @addr.  *pfn = 0 for the zero page. */
static int gup_one(struct avm_mm *mm, unsigned long addr, bool pin, bool write, bool longterm,
		   unsigned long *pfn)
{
	struct avm_world *w = mm->w;
	struct avm_vma *vma = vma_lookup(mm, addr);
	int ret;

	if (!vma)
		return -EFAULT;
	ret = gup_check_vma(vma, write);
	if (ret)
		return ret;
	for (int tries = 0;; tries++) {
		uint64_t pte = pt_get(mm, addr);

		AVM_ASSERT(tries < 6);
		if (!pte_present(pte) || (write && !pte_write(pte))) {
			ret = gup_fault(mm, vma, addr, write ? FAULT_FLAG_WRITE : 0);
			if (ret)
				return ret;
			continue;
		}
		if (must_unshare(w, vma, pte, pin, write, longterm)) {
			ret = gup_fault(mm, vma, addr, FAULT_FLAG_UNSHARE);
			if (ret)
				return ret;
			continue;
		}
		/* try_grab_folio() */
		if (pte_zero(pte)) {
			*pfn = 0;
			return 0;
		}
		*pfn = pte_pfn(pte);
		struct avm_frame *f = frame(w, *pfn);
		/* FOLL_TOUCH only ages the folio (LRU state, not modelled). */
		f->refcount += pin ? AVM_GUP_PIN_COUNTING_BIAS : 1;
		return 0;
	}
}

/*
 * gup_fast_pte_range() for one page: no VMA checks and no faults, only
 * what the PTE allows (pte_access_permitted(): x86 maps every accessible
 * VMA readable; a PROT_NONE VMA's PTEs are protnone).  Special PTEs (the
 * zero page) and pages that need an unshare are left to the slow path,
 * as gup_must_unshare() with no VMA decides.
 * Returns: true and *pfn with the reference taken, or false.
 */
static bool gup_fast_one(struct avm_mm *mm, unsigned long addr, bool pin, bool write,
			 bool longterm, unsigned long *pfn)
{
	struct avm_world *w = mm->w;
	uint64_t pte = pt_get(mm, addr);

	if (!pte_present(pte) || pte_zero(pte) || (write && !pte_write(pte)))
		return false;
	const struct avm_vma *vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & (AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC)))
		return false;
	struct avm_frame *f = frame(w, pte_pfn(pte));
	if (pin && !write) {
		if (f->flags & FRAME_ANON ? !(f->flags & FRAME_ANON_EXCLUSIVE) : longterm)
			return false;
	}
	*pfn = pte_pfn(pte);
	f->refcount += pin ? AVM_GUP_PIN_COUNTING_BIAS : 1;
	return true;
}

/* Pages per iov_iter_get_pages2() call in vmsplice's iter_to_pipe(). */
#define GUP_REF_ROUND 16UL

static int pinset_store(struct avm_world *w, struct avm_pinset *ps)
{
	if (w->nr_pins == w->cap_pins) {
		int cap = w->cap_pins ? w->cap_pins * 2 : 16;
		struct avm_pinset **arr = avm_zalloc(w, (size_t)cap * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		if (w->nr_pins)
			memcpy(arr, w->pins, (size_t)w->nr_pins * sizeof(*arr));
		avm_free(w, w->pins, (size_t)w->cap_pins * sizeof(*arr));
		w->pins = arr;
		w->cap_pins = cap;
	}
	ps->handle = w->next_pin_handle++;
	w->pins[w->nr_pins++] = ps;
	return 0;
}

static int gup(struct avm_world *w, int pid, unsigned long addr, unsigned long npages,
	       bool pin, unsigned int foll, int *handle)
{
	struct avm_mm *mm;
	struct avm_pinset *ps;
	bool write = foll & AVM_FOLL_WRITE, longterm = foll & AVM_FOLL_LONGTERM;
	unsigned long i;
	int ret = 0;

	if (!handle || (foll & ~(AVM_FOLL_WRITE | AVM_FOLL_LONGTERM)) || npages == 0 ||
	    !PAGE_ALIGNED(addr))
		return -EINVAL;
	mm = mm_find(w, pid);
	if (!mm)
		return -ESRCH;
	if (npages > (AVM_TASK_SIZE >> AVM_PAGE_SHIFT) ||
	    addr + npages * AVM_PAGE_SIZE > AVM_TASK_SIZE || addr >= AVM_TASK_SIZE)
		return -EFAULT;
	/* Both the set and its slot are allocated before any page is touched. */
	ps = avm_zalloc(w, pinset_bytes(npages));
	if (!ps)
		return -ENOMEM;
	ps->is_pin = pin;
	ps->write = write;
	ps->n = npages;
	if (pinset_store(w, ps)) {
		avm_free(w, ps, pinset_bytes(npages));
		return -ENOMEM;
	}
	/* R10.2: set by the attempt, never cleared. */
	if (pin)
		mm->flags |= MMF_HAS_PINNED;

	/*
	 * pin_user_pages_fast() / get_user_pages_fast() (io_uring, vmsplice):
	 * the lockless walk takes pages while their PTEs allow it; from the
	 * first page it cannot take, the slow path (VMA checks, faults) does
	 * the rest of the call, and stops at the first page it cannot take,
	 * returning what it got.  io_uring asks once (a short count fails the
	 * registration); vmsplice (R10.1, host) asks in rounds of at most
	 * GUP_REF_ROUND pages (iov_iter_get_pages2() from iter_to_pipe()),
	 * each from where the last stopped and each starting with GUP-fast,
	 * which never looks at the VMA: a present page of a !VM_READ VMA that
	 * stopped the slow path is taken by the next round.  A round that
	 * takes nothing ends it all.
	 */
	i = 0;
	while (i < npages) {
		unsigned long round_start = i;
		unsigned long round_end = pin ? npages : avm_min(npages, i + GUP_REF_ROUND);

		for (; i < round_end; i++)
			if (!gup_fast_one(mm, addr + i * AVM_PAGE_SIZE, pin, write, longterm,
					  &ps->pfns[i]))
				break;
		for (; i < round_end; i++) {
			ret = gup_one(mm, addr + i * AVM_PAGE_SIZE, pin, write, longterm,
				      &ps->pfns[i]);
			if (ret)
				break;
		}
		if (!ret)
			continue;
		if (pin || i == round_start) {
			/* vmsplice after spliced rounds: a short count (-EFAULT to the caller). */
			if (!pin && i > 0)
				ret = -EFAULT;
			break;
		}
		ret = 0; /* a short round: the next one starts at page i */
	}
	if (ret) {
		while (i-- > 0)
			pinset_release_one(w, ps, i);
		w->nr_pins--;
		avm_free(w, ps, pinset_bytes(npages));
		avm_debug_validate(w);
		return ret;
	}
	if (pin)
		w->stats.pins += npages;
	else
		w->stats.refs += npages;
	*handle = ps->handle;
	avm_debug_validate(w);
	return 0;
}

/*
 * avm_pin() - pin_user_pages(): FOLL_PIN, optionally FOLL_WRITE and
 * FOLL_LONGTERM.  Returns: 0 and *handle, -EINVAL (flags, alignment, zero
 * pages), -ESRCH, -EFAULT (unmapped, PROT_NONE, not writable for a write
 * pin, guard, userfault), -ENOMEM.
 */
int avm_pin(struct avm_world *w, int pid, unsigned long addr, unsigned long npages,
	    unsigned int foll, int *handle)
{
	return gup(w, pid, addr, npages, true, foll, handle);
}

/* avm_get_ref() - get_user_pages() without FOLL_WRITE (vmsplice, R10.8). */
int avm_get_ref(struct avm_world *w, int pid, unsigned long addr, unsigned long npages,
		int *handle)
{
	return gup(w, pid, addr, npages, false, 0, handle);
}

int avm_unpin(struct avm_world *w, int handle)
{
	int idx;
	struct avm_pinset *ps = pinset_find(w, handle, &idx);

	if (!ps)
		return -EINVAL;
	for (unsigned long i = 0; i < ps->n; i++)
		pinset_release_one(w, ps, i);
	w->stats.unpins += ps->n;
	/* Keep the sets in creation order. */
	memmove(&w->pins[idx], &w->pins[idx + 1], (size_t)(w->nr_pins - idx - 1) * sizeof(*w->pins));
	w->nr_pins--;
	avm_free(w, ps, pinset_bytes(ps->n));
	avm_debug_validate(w);
	return 0;
}

int avm_pin_read(struct avm_world *w, int handle, unsigned long i, uint64_t *val)
{
	struct avm_pinset *ps = pinset_find(w, handle, NULL);

	if (!ps || i >= ps->n || !val)
		return -EINVAL;
	*val = ps->pfns[i] ? frame_content(frame(w, ps->pfns[i])) : 0;
	return 0;
}

/*
 * avm_pin_write() - a device write through the pin (io_uring READ_FIXED).
 * Returns: 0, or -EINVAL (unknown handle, index out of range, or a set
 * taken without FOLL_WRITE: a read-only pin must not be written).
 */
int avm_pin_write(struct avm_world *w, int handle, unsigned long i, uint64_t val)
{
	struct avm_pinset *ps = pinset_find(w, handle, NULL);

	if (!ps || i >= ps->n || !ps->write)
		return -EINVAL;
	AVM_ASSERT(ps->pfns[i] != 0); /* a write pin never holds the zero page */
	frame_set_content(frame(w, ps->pfns[i]), val);
	avm_debug_validate(w);
	return 0;
}

void gup_fini(struct avm_world *w)
{
	for (int i = 0; i < w->nr_pins; i++)
		avm_free(w, w->pins[i], pinset_bytes(w->pins[i]->n));
	avm_free(w, w->pins, (size_t)w->cap_pins * sizeof(*w->pins));
	w->pins = NULL;
	w->nr_pins = w->cap_pins = 0;
}

void gup_count(const struct avm_world *w, unsigned long pfn, unsigned long *pins,
	       unsigned long *refs)
{
	*pins = *refs = 0;
	for (int i = 0; i < w->nr_pins; i++) {
		const struct avm_pinset *ps = w->pins[i];
		for (unsigned long j = 0; j < ps->n; j++) {
			if (ps->pfns[j] != pfn)
				continue;
			if (ps->is_pin)
				(*pins)++;
			else
				(*refs)++;
		}
	}
}
