/*
 * fuzz_expfmt.c - libFuzzer driver for the exposition parser
 * (collector/expfmt).  Built with clang by tests/fuzz/meson.build and run
 * briefly over tests/fuzz/corpus/expfmt by tests/fuzz/run_fuzz.sh
 * (meson test --suite fuzz); by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Icollector -Icommon tests/fuzz/fuzz_expfmt.c collector/expfmt.c \
 *     collector/expfmt_num.c common/mem.c -lm -o /tmp/fuzz_expfmt
 *   /tmp/fuzz_expfmt tests/fuzz/corpus/expfmt
 *
 * The input is parsed as both formats from an exactly-sized copy (so ASan
 * sees any read past the end); every returned slice is read in full, and
 * the parser's promises are checked: label names are non-empty and never
 * __name__, an error has a position inside the input and a message, and
 * the parser stays failed or ended once it said so.
 *
 * Lazy mode: the input is also parsed lazily with expfmt_parser_labels on
 * every sample, side by side with an eager parser, and every entry, the
 * outcome and the error message must be identical; and lazily without the
 * label step (every series a cache hit), which must succeed wherever the
 * eager parse does, with the same number of samples.
 */
#include "expfmt.h"
#include "ph_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned char sink;

static void touch(expfmt_str_t s) {
  for (size_t i = 0; i < s.len; i++) sink ^= (unsigned char)s.ptr[i];
}

static void check(int cond) {
  if (!cond) abort();
}

static void run(const char *buf, size_t len, expfmt_format_t fmt,
                expfmt_parser_t *p) {
  expfmt_parser_reset(p, buf, len, fmt);
  expfmt_entry_t e;
  int rc;
  size_t series = 0;
  while ((rc = expfmt_parser_next(p, &e)) > 0) {
    touch(e.name);
    touch(e.text);
    if (e.kind == EXPFMT_SERIES) {
      series++;
      touch(e.series);
      check(e.series.ptr >= buf && e.series.ptr + e.series.len <= buf + len);
      for (size_t i = 0; i < e.nlabels; i++) {
        touch(e.labels[i].name);
        touch(e.labels[i].value);
        check(e.labels[i].name.len > 0);
        check(!(e.labels[i].name.len == 8 &&
                memcmp(e.labels[i].name.ptr, "__name__", 8) == 0));
      }
      if (e.has_exemplar)
        for (size_t i = 0; i < e.exemplar.nlabels; i++) {
          touch(e.exemplar.labels[i].name);
          touch(e.exemplar.labels[i].value);
        }
    }
  }
  check(series == expfmt_parser_samples(p));
  if (rc < 0) {
    check(rc == PH_EPARSE);
    size_t line, col, off;
    expfmt_parser_error_pos(p, &line, &col, &off);
    check(line >= 1 && col >= 1 && off <= len);
    check(expfmt_parser_error(p)[0] != '\0');
    check(expfmt_parser_next(p, &e) == PH_EPARSE);
  } else {
    check(expfmt_parser_next(p, &e) == 0);
  }
}

static void same_str(expfmt_str_t a, expfmt_str_t b) {
  check(a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0));
}

static void same_labels(const expfmt_label_t *a, size_t na,
                        const expfmt_label_t *b, size_t nb) {
  check(na == nb);
  for (size_t i = 0; i < na; i++) {
    same_str(a[i].name, b[i].name);
    same_str(a[i].value, b[i].value);
  }
}

/* Eager vs lazy + label step, entry by entry; returns the outcome. */
static int compare_lazy(const char *buf, size_t len, expfmt_format_t fmt,
                        expfmt_parser_t *pe, expfmt_parser_t *pl) {
  expfmt_parser_reset(pe, buf, len, fmt);
  expfmt_parser_set_lazy(pe, false);
  expfmt_parser_reset(pl, buf, len, fmt);
  expfmt_parser_set_lazy(pl, true);
  expfmt_entry_t a, b;
  int ra, rb;
  for (;;) {
    ra = expfmt_parser_next(pe, &a);
    rb = expfmt_parser_next(pl, &b);
    if (rb == EXPFMT_SERIES) {
      check(b.labels == NULL && b.nlabels == 0);
      int rc = expfmt_parser_labels(pl, &b);
      if (rc < 0) rb = rc;
    }
    check(ra == rb);
    if (ra <= 0) break;
    check(a.kind == b.kind && a.type == b.type && a.created == b.created);
    same_str(a.name, b.name);
    same_str(a.text, b.text);
    same_str(a.series, b.series);
    check(a.has_ts == b.has_ts && a.ts_ms == b.ts_ms);
    check(memcmp(&a.value, &b.value, sizeof(double)) == 0);
    same_labels(a.labels, a.nlabels, b.labels, b.nlabels);
    check(a.has_exemplar == b.has_exemplar);
    same_labels(a.exemplar.labels, a.exemplar.nlabels, b.exemplar.labels,
                b.exemplar.nlabels);
  }
  check(strcmp(expfmt_parser_error(pe), expfmt_parser_error(pl)) == 0);
  check(expfmt_parser_samples(pe) == expfmt_parser_samples(pl));
  return ra;
}

/* Lazy without the label step: never fails where eager succeeded. */
static void lazy_hits(const char *buf, size_t len, expfmt_format_t fmt,
                      expfmt_parser_t *p, int eager_rc, size_t eager_samples) {
  expfmt_parser_reset(p, buf, len, fmt);
  expfmt_parser_set_lazy(p, true);
  expfmt_entry_t e;
  int rc;
  while ((rc = expfmt_parser_next(p, &e)) > 0) {
    touch(e.name);
    touch(e.series);
  }
  if (eager_rc == 0) {
    check(rc == 0);
    check(expfmt_parser_samples(p) == eager_samples);
  }
  expfmt_parser_set_lazy(p, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  expfmt_parser_t *p = expfmt_parser_new(NULL, 0, EXPFMT_FORMAT_TEXT);
  run(buf, size, EXPFMT_FORMAT_TEXT, p);
  run(buf, size, EXPFMT_FORMAT_OPENMETRICS, p);
  expfmt_parser_t *pl = expfmt_parser_new(NULL, 0, EXPFMT_FORMAT_TEXT);
  for (int f = 0; f < 2; f++) {
    expfmt_format_t fmt = f ? EXPFMT_FORMAT_OPENMETRICS : EXPFMT_FORMAT_TEXT;
    int rc = compare_lazy(buf, size, fmt, p, pl);
    lazy_hits(buf, size, fmt, pl, rc, expfmt_parser_samples(p));
  }
  expfmt_parser_free(pl);
  expfmt_parser_free(p);

  /* The Content-Type sniffing takes a C string. */
  char ct[80];
  size_t n = size < sizeof(ct) - 1 ? size : sizeof(ct) - 1;
  memcpy(ct, buf, n);
  ct[n] = '\0';
  expfmt_format_t f = expfmt_format_from_content_type(ct);
  check(f == EXPFMT_FORMAT_TEXT || f == EXPFMT_FORMAT_OPENMETRICS);
  free(buf);
  return 0;
}
