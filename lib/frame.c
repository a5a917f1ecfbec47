/*
 * frame.c - physical frames (small folios).  See page.h.
 *
 * Frames live in fixed chunks of FRAME_CHUNK entries (w->frame_chunks), so
 * a frame's address never changes and frame(w, pfn) is two loads.  Only the
 * chunk pointer array grows.  pfn 0 is the shared zero page: FRAME_ZERO,
 * never allocated or freed, its refcount is not tracked (the kernel's zero
 * page is reserved and GUP takes no pin on it, R10.1).
 *
 * Free frames are chained through frame->swap (a free frame is never in
 * the swap cache), head in w->frame_free_head, 0 = empty.  Frames are
 * recycled LIFO, which keeps pfns small and deterministic.
 *
 * Frame limit: cfg.max_frames (0 = unlimited) bounds the frames in use,
 * not counting the zero page.  Allocation failure (the limit or an
 * injected failure) is -ENOMEM, which faults report as VM_FAULT_OOM.
 */
#include "internal.h"

/* FRAME_CHUNK hot halves, then FRAME_CHUNK cold halves (internal.h). */
#define CHUNK_BYTES (FRAME_CHUNK * (sizeof(struct avm_frame) + sizeof(struct avm_frame_cold)))

/* Make room for one more chunk pointer and allocate the chunk. */
static int chunk_add(struct avm_world *w)
{
	unsigned long n = w->nr_chunks;

	/* The pointer array grows by doubling; its capacity is the next power of two. */
	bool pow2 = n && !(n & (n - 1));
	if (n == 0 || pow2) {
		unsigned long cap = n ? n * 2 : 1;
		struct avm_frame **arr = avm_zalloc(w, cap * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		if (n)
			memcpy(arr, w->frame_chunks, n * sizeof(*arr));
		avm_free(w, w->frame_chunks, n * sizeof(*arr)); /* capacity was n */
		w->frame_chunks = arr;
	}
	/* Cache-line aligned: no frame straddles two lines. */
	struct avm_frame *chunk = avm_zalloc_aligned(w, CHUNK_BYTES, 64);
	if (!chunk)
		return -ENOMEM; /* the grown array is kept; harmless */
	w->frame_chunks[n] = chunk;
	w->nr_chunks = n + 1;
	return 0;
}

/* Returns: 0, or -ENOMEM.  Context: world creation. */
int frame_init(struct avm_world *w)
{
	if (chunk_add(w))
		return -ENOMEM;
	struct avm_frame *zero = frame(w, 0);
	zero->flags = FRAME_ZERO;
	zero->refcount = 1; /* reserved: never reaches 0 */
	w->frames_total = 1;
	w->frames_used = 0;
	w->frame_free_head = 0;
	return 0;
}

void frame_fini(struct avm_world *w)
{
	unsigned long cap = 1;

	for (unsigned long i = 0; i < w->nr_chunks; i++)
		avm_free_aligned(w, w->frame_chunks[i], CHUNK_BYTES);
	while (cap < w->nr_chunks)
		cap *= 2;
	if (w->frame_chunks)
		avm_free(w, w->frame_chunks, cap * sizeof(*w->frame_chunks));
	w->frame_chunks = NULL;
	w->nr_chunks = 0;
	w->frames_total = 0;
}

/*
 * frame_alloc() - a fresh frame: refcount 1, mapcount 0, flags 0, content 0.
 * Returns: 0 and *pfn, or -ENOMEM (limit reached or injected failure).
 */
int frame_alloc(struct avm_world *w, unsigned long *pfn)
{
	unsigned long p;

	if (avm_inject_fail(w))
		return -ENOMEM;
	if (w->cfg.max_frames && w->frames_used >= w->cfg.max_frames)
		return -ENOMEM;
	if (w->frame_free_head) {
		p = w->frame_free_head;
		w->frame_free_head = frame(w, p)->swap;
	} else {
		if (w->frames_total == w->nr_chunks * FRAME_CHUNK && chunk_add(w))
			return -ENOMEM;
		if (w->frames_total > 0xffffffffUL)
			return -ENOMEM; /* the free list links are 32-bit */
		p = w->frames_total++;
	}
	struct avm_frame *f = frame(w, p);
	memset(f, 0, sizeof(*f));
	/* A freed frame's cold half is left stale (frame_put()): clear it here. */
	memset(frame_cold(f), 0, sizeof(struct avm_frame_cold));
	f->refcount = 1;
	w->frames_used++;
	w->stats.frames_alloc++;
	*pfn = p;
	return 0;
}

/*
 * The last reference went (frame_put()): the frame is freed, its hot half
 * cleared (the cold half, with the stale mapping, R18.3, is cleared when it
 * is handed out again).  Context: not in the swap cache (the cache holds a
 * reference).
 */
void frame_free(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->refcount == 0 && f->mapcount == 0 && !(f->flags & FRAME_SWAPCACHE));
	memset(f, 0, sizeof(*f));
	f->swap = w->frame_free_head;
	w->frame_free_head = (uint32_t)pfn;
	AVM_ASSERT(w->frames_used > 0);
	w->frames_used--;
	w->stats.frames_free++;
}

static void set_mlock_count(struct avm_frame *f, unsigned int count)
{
	f->flags = (f->flags & ((1u << FRAME_MLOCK_COUNT_SHIFT) - 1)) |
		   (count << FRAME_MLOCK_COUNT_SHIFT);
}

void frame_mlock_new(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	if (pfn == 0)
		return;
	f->flags |= FRAME_MLOCKED;
	set_mlock_count(f, 1);
}

void frame_mlock(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);
	unsigned int count;

	if (pfn == 0)
		return;
	/* An evictable folio moves to the unevictable list with count 1. */
	count = (f->flags & FRAME_MLOCKED) ? frame_mlock_count(f) : 0;
	f->flags |= FRAME_MLOCKED;
	if (count < FRAME_MLOCK_COUNT_MAX)
		count++;
	set_mlock_count(f, count);
}

void frame_munlock(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);
	unsigned int count;

	if (pfn == 0 || !(f->flags & FRAME_MLOCKED))
		return;
	/* The count may undercount: at 0 the mlock goes (reclaim re-mlocks). */
	count = frame_mlock_count(f);
	if (count > 1) {
		set_mlock_count(f, count - 1);
		return;
	}
	set_mlock_count(f, 0);
	f->flags &= ~FRAME_MLOCKED;
}

void frame_mlock_putback(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	if (pfn == 0)
		return;
	f->flags |= FRAME_MLOCKED;
	set_mlock_count(f, 0);
}

unsigned long avm_frames_used(const struct avm_world *w)
{
	return w->frames_used;
}
