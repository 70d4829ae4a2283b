/* SPDX-License-Identifier: MIT */
/*
 * output.c - everything pvfsctl prints: JSON results (--json), the aligned
 * text tables of the human output and the number formats shown in them,
 * and lenient JSON accessors for building them. Cells are formatted as they
 * are added and the table is printed once all rows are known, so every
 * column is exactly as wide as its widest cell. Widths count UTF-8
 * characters, not bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "util.h"

bool ctl_json;

#define MAX_COLS 24

struct table {
	size_t ncols;
	const char *const *headers;
	const char *align;
	char **cells;		/* nrows * ncols, row-major */
	size_t nrows, cap, filled;	/* filled: cells of the last row so far */
};

struct table *table_new(const char *const *headers, const char *align)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	while (headers[t->ncols])
		t->ncols++;
	if (t->ncols > MAX_COLS || strlen(align) != t->ncols)
		abort();	/* a programming error, not an input error */
	t->headers = headers;
	t->align = align;
	return t;
}

/* finish_row - a row with missing cells shows "-" there, so columns stay aligned. */
static void finish_row(struct table *t)
{
	while (t->nrows && t->filled < t->ncols)
		table_cell(t, "-");
}

void table_row(struct table *t)
{
	finish_row(t);
	if ((t->nrows + 1) * t->ncols > t->cap) {
		t->cap = t->cap ? t->cap * 2 : t->ncols * 8;
		t->cells = realloc(t->cells, t->cap * sizeof(*t->cells));
		if (!t->cells)
			abort();
	}
	t->nrows++;
	t->filled = 0;
}

void table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!t->nrows || t->filled >= t->ncols)
		abort();
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	t->cells[(t->nrows - 1) * t->ncols + t->filled++] = s;
}

static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void print_cell(FILE *f, const char *s, size_t w, char align, bool last)
{
	size_t pad = w - width(s);

	if (align == 'r')
		fprintf(f, "%*s%s", (int)pad, "", s);
	else if (last)
		fputs(s, f);	/* no trailing blanks */
	else
		fprintf(f, "%s%*s", s, (int)pad, "");
}

void table_print(struct table *t, FILE *f)
{
	size_t w[MAX_COLS];

	finish_row(t);
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++)
			w[c] = MAX(w[c], width(t->cells[r * t->ncols + c]));
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[(r - 1) * t->ncols + c] : t->headers[c];

			print_cell(f, s, w[c], t->align[c], c + 1 == t->ncols);
			if (c + 1 < t->ncols)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void fmt_bytes_human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

void fmt_size_exact(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	unsigned u = 0;

	while (bytes && u < sizeof(suffix) - 1 && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	if (u)
		snprintf(buf, len, "%llu%c", (unsigned long long)bytes, suffix[u - 1]);
	else
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(jstr(*(json_t *const *)a, "name"), jstr(*(json_t *const *)b, "name"));
}

void sort_by_name(json_t *arr)
{
	size_t n = json_array_size(arr);
	_cleanup_free_ json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;		/* unsorted is still correct */
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_name);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
}

void print_broken(json_t *tenants, FILE *f)
{
	json_t *t;
	size_t i;

	json_array_foreach(tenants, i, t)
		if (json_object_get(t, "broken_reason"))
			fprintf(f, "\n%s is broken: %s. Its I/O has stopped; restart the VM "
				"(its VMM re-plugs) or detach it.\n", jstr(t, "name"),
				jstr(t, "broken_reason"));
}

json_int_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : (json_int_t)json_number_value(v);
}

double jreal(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}
