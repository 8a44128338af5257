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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  expfmt_parser_t *p = expfmt_parser_new(NULL, 0, EXPFMT_FORMAT_TEXT);
  run(buf, size, EXPFMT_FORMAT_TEXT, p);
  run(buf, size, EXPFMT_FORMAT_OPENMETRICS, p);
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
