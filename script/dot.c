/*
 * dot.c - Graphviz picture of a world: one cluster per process with its
 * VMAs, the anon_vmas (with ->parent edges), the anon_vma_chain edges
 * (VMA -> anon_vma), and the frames (page -> frame, frame -> the anon_vma
 * its folio->mapping names).  Frames are capped so a big world still
 * renders; the cap is stated in the graph.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

#define DOT_MAX_FRAMES 200
#define DOT_MAX_PAGES_PER_VMA 64

int script_print_dot(struct script_state *st, const char *title, FILE *out)
{
	struct avm_world *w = script_world(st);
	struct avm_anon_vma_info *avs = NULL;
	struct avm_avc_info *avcs = NULL;
	long nav, navc;
	unsigned long cur = 0, frames_seen[DOT_MAX_FRAMES];
	int pid, nframes = 0;
	bool capped = false;
	/* Frames are shared between processes: collect them outside the clusters. */
	char *fbuf = NULL;
	size_t flen = 0;
	FILE *fo = open_memstream(&fbuf, &flen);

	if (!fo)
		return -1;

	fprintf(out, "digraph anonvm {\n  rankdir=LR;\n  node [fontname=\"monospace\", "
		     "fontsize=10];\n  label=\"");
	for (const char *s = title ? title : "anonvm"; *s; s++)
		fputs(*s == '"' ? "\\\"" : (char[2]){ *s, 0 }, out);
	fputs("\";\n  labelloc=t;\n", out);

	/* Processes and their VMAs. */
	while ((pid = avm_proc_next(w, &cur)) > 0) {
		struct avm_vma_info v;
		unsigned long vc = 0;
		const char *name = script_proc_name(st, pid);
		fprintf(out, "  subgraph cluster_p%d {\n    label=\"%s (pid %d)\";\n", pid,
			name ? name : "?", pid);
		while (avm_vma_next(w, pid, &vc, &v) == 1) {
			char line[256];
			script_format_maps_line(&v, line, sizeof(line));
			fprintf(out,
				"    vma%lu [shape=box, label=\"vma#%lu %012lx-%012lx %c%c%c%c\\n"
				"pgoff 0x%lx  chain %u\"];\n",
				v.vma_id, v.vma_id, v.start, v.end, v.flags & AVM_VM_READ ? 'r' : '-',
				v.flags & AVM_VM_WRITE ? 'w' : '-', v.flags & AVM_VM_EXEC ? 'x' : '-',
				v.flags & AVM_VM_MAYSHARE ? 's' : 'p', v.pgoff, v.chain_len);
			/* Pages of this VMA that map frames. */
			unsigned long np = (v.end - v.start) / AVM_PAGE_SIZE, shown = 0;
			for (unsigned long i = 0; i < np && shown < DOT_MAX_PAGES_PER_VMA; i++) {
				struct avm_page_info pi;
				unsigned long a = v.start + i * AVM_PAGE_SIZE;
				bool known = false;
				if (avm_page_info(w, pid, a, &pi) < 0 || pi.state != AVM_PAGE_PRESENT)
					continue;
				shown++;
				for (int k = 0; k < nframes; k++)
					known |= frames_seen[k] == pi.pfn;
				if (!known) {
					if (nframes == DOT_MAX_FRAMES) {
						capped = true;
						continue;
					}
					frames_seen[nframes++] = pi.pfn;
					fprintf(fo,
						"  frame%lu [shape=note, style=filled, fillcolor=\"%s\", "
						"label=\"pfn %lu\\nmapcount %d ref %d\\n%s%s\\n0x%" PRIx64
						"\"];\n",
						pi.pfn, pi.anon_exclusive ? "palegreen" : "khaki", pi.pfn,
						pi.mapcount, pi.refcount,
						pi.anon_exclusive ? "exclusive" : "shared/not excl",
						pi.pinned ? " pinned" : "", pi.content);
					if (pi.anon_vma)
						fprintf(fo,
							"  frame%lu -> av%lu [style=dotted, label=\"mapping\"];\n",
							pi.pfn, pi.anon_vma);
				}
				fprintf(fo, "  vma%lu -> frame%lu [label=\"%lx\", color=gray40];\n",
					v.vma_id, pi.pfn, a);
			}
		}
		fputs("  }\n", out);
	}

	fclose(fo);
	fputs(fbuf ? fbuf : "", out);
	free(fbuf);

	/* anon_vmas and their parents. */
	nav = script_anon_vmas(st, &avs);
	for (long i = 0; i < nav; i++) {
		const struct avm_anon_vma_info *av = &avs[i];
		fprintf(out,
			"  av%lu [shape=ellipse, style=filled, fillcolor=lightblue, label=\"av#%lu%s\\n"
			"ref %d children %d active %d\"];\n",
			av->id, av->id, av->id == av->root ? " (root)" : "", av->refcount,
			av->num_children, av->num_active_vmas);
		if (av->parent && av->parent != av->id)
			fprintf(out, "  av%lu -> av%lu [style=dashed, label=\"parent\"];\n", av->id,
				av->parent);
	}
	/* The anon_vma_chain. */
	navc = script_avcs(st, &avcs);
	for (long i = 0; i < navc; i++)
		fprintf(out, "  vma%lu -> av%lu [color=blue, label=\"avc\"];\n", avcs[i].vma_id,
			avcs[i].anon_vma);
	free(avs);
	free(avcs);
	if (capped)
		fprintf(out, "  note [shape=plaintext, label=\"(only the first %d frames drawn)\"];\n",
			DOT_MAX_FRAMES);
	fputs("}\n", out);
	return 0;
}
