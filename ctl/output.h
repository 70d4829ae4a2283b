/* SPDX-License-Identifier: MIT */
/*
 * output.h - everything pvfsctl prints (output.c): the JSON result with
 * --json, otherwise aligned tables and the number formats in them. Every
 * message on stderr starts with PROG_NAME.
 */
#ifndef PVFSCTL_OUTPUT_H
#define PVFSCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define PROG_NAME	"pvfsctl"

/* --json: print pvfsd's result as JSON instead of tables (set by main). */
extern bool ctl_json;

/* print_json - the result, indented, on stdout. */
void print_json(json_t *v);

struct table;

/*
 * table_new - a table with the given column headers; align has one
 * character per column: 'l' (text) or 'r' (numbers).
 */
struct table *table_new(const char *const *headers, const char *align);
/* table_row - start a new row; table_cell adds the next cell to it. */
void table_row(struct table *t);
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* table_print - columns padded to their widest cell, two spaces apart. */
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* fmt_bytes_human - 1073741824 -> "1.0 GiB", 512 -> "512 B". */
void fmt_bytes_human(uint64_t bytes, char *buf, size_t len);
/* fmt_size_exact - 104857600 -> "100M", as parse_size reads it back; 1000 -> "1000". */
void fmt_size_exact(uint64_t bytes, char *buf, size_t len);

/* sort_by_name - order an array of tenant objects by "name" (pvfsd lists newest first). */
void sort_by_name(json_t *arr);
/* print_broken - after a table: one line per broken tenant, why and what to do. */
void print_broken(json_t *tenants, FILE *f);

/* JSON accessors that tolerate a missing member (0 or "-"). */
json_int_t jint(json_t *o, const char *key);
double jreal(json_t *o, const char *key);
const char *jstr(json_t *o, const char *key);

#endif
