/*
 * fuzz_promql.c - libFuzzer driver for the PromQL parser and printer
 * (query/promql.h).  Built with clang by tests/fuzz/meson.build and run
 * briefly over tests/fuzz/corpus/promql by tests/fuzz/run_fuzz.sh.
 *
 * The input is the query text, parsed from an exactly-sized copy (so ASan
 * sees any read past the end), with and without the experimental
 * functions.  On success the expression is printed in both forms, and the
 * parser's promises are checked: the single-line form parses again and
 * prints the same (Prometheus's String() round-trips), the pretty form
 * parses again; the result type is one of the four names.  On failure the
 * error must have a message and a position inside the input.
 */
#include "ph_error.h"
#include "promql.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond) {
  if (!cond) abort();
}

static void check_error(const promql_error_t *err, size_t len) {
  check(err->code == PH_EPARSE || err->code == PH_ELIMIT);
  check(err->msg[0] != '\0');
  check(strnlen(err->msg, sizeof err->msg) < sizeof err->msg);
  check(err->start <= err->end && err->end <= len + 1);
}

static void roundtrip(const promql_expr_t *e, const promql_parse_opts_t *o) {
  const char *type = promql_expr_type_name(e);
  check(strcmp(type, "scalar") == 0 || strcmp(type, "vector") == 0 ||
        strcmp(type, "matrix") == 0 || strcmp(type, "string") == 0);

  strbuf_t a = STRBUF_INIT, b = STRBUF_INIT, p = STRBUF_INIT;
  promql_format(e, &a);
  promql_error_t err;
  promql_expr_t *e2 = promql_parse_ex(strbuf_cstr(&a), a.len, o, &err);
  check(e2 != NULL); /* the printed form parses */
  promql_format(e2, &b);
  check(a.len == b.len && memcmp(strbuf_cstr(&a), strbuf_cstr(&b), a.len) == 0);
  check(strcmp(promql_expr_type_name(e2), type) == 0);
  promql_expr_free(e2);

  promql_format_pretty(e, &p);
  promql_expr_t *e3 = promql_parse_ex(strbuf_cstr(&p), p.len, o, &err);
  check(e3 != NULL); /* the pretty form parses too */
  promql_expr_free(e3);
  strbuf_free(&a);
  strbuf_free(&b);
  strbuf_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0; /* long inputs only slow the search down */
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  for (int experimental = 0; experimental < 2; experimental++) {
    promql_parse_opts_t o = {.experimental_functions = experimental != 0};
    promql_error_t err;
    memset(&err, 0, sizeof err);
    promql_expr_t *e = promql_parse_ex(buf, size, &o, &err);
    if (e == NULL) {
      check_error(&err, size);
    } else {
      roundtrip(e, &o);
      promql_expr_free(e);
    }
  }
  free(buf);
  return 0;
}
