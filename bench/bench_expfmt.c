/*
 * bench_expfmt.c - throughput of the exposition parser (collector/expfmt).
 *
 * Parses a scrape body many times with one reused parser, as the scrape
 * loop does, and prints samples/s, ns/sample and MB/s for three modes:
 *   eager        next() does everything; every label is touched
 *   lazy         lazy mode, no label step: what a scrape whose series all
 *                hit the cache costs (series text and value touched)
 *   lazy+labels  lazy mode with expfmt_parser_labels on every sample (a
 *                first scrape, all misses); every label is touched
 * Times are the process's CPU time (the machine is usually shared); an
 * optional third argument runs one mode only ("eager", "lazy" or
 * "lazy+labels").  The body is node_exporter's real output
 * (shared/node-exporter-fixtures/e2e-output.txt, or the file named on the
 * command line; "" for the generated one), repeated to about 10,000
 * lines; without it, a generated node_exporter-like body of 10,000
 * lines.  Not part of the test suite; built by bench/meson.build, or by
 * hand, e.g.
 *
 *   cc -O2 -D_GNU_SOURCE -Icollector -Icommon bench/bench_expfmt.c \
 *      collector/expfmt.c collector/expfmt_num.c common/mem.c -lm \
 *      -o /tmp/bench_expfmt && /tmp/bench_expfmt [file] [iterations] [mode]
 */
#include "expfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      b = realloc(b, cap);
      if (!b) abort();
    }
    size_t k = fread(b + n, 1, cap - n, f);
    if (k == 0) break;
    n += k;
  }
  fclose(f);
  *len = n;
  return b;
}

static char *generate(size_t lines, size_t *len) {
  size_t cap = lines * 96 + 64, n = 0;
  char *b = malloc(cap);
  if (!b) abort();
  static const char *modes[] = {"idle", "iowait", "irq", "nice", "softirq",
                                "steal", "system", "user"};
  size_t cpu = 0;
  n += (size_t)snprintf(b + n, cap - n,
                        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
                        "# TYPE node_cpu_seconds_total counter\n");
  for (size_t i = 0; i + 2 < lines; i++) {
    n += (size_t)snprintf(b + n, cap - n,
                          "node_cpu_seconds_total{cpu=\"%zu\",mode=\"%s\"} %zu.%02zu\n",
                          cpu, modes[i % 8], 100000 + i * 37, i % 100);
    if (i % 8 == 7) cpu++;
  }
  *len = n;
  return b;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NULL;
  const char *only = argc > 3 ? argv[3] : NULL;
  long iters = argc > 2 ? atol(argv[2]) : 0;
  char deflt[4096];
  if (!path) {
    const char *sd = getenv("PHAROS_SHARED_DIR");
    snprintf(deflt, sizeof(deflt), "%s/node-exporter-fixtures/e2e-output.txt",
             sd ? sd : "/work/shared");
    path = deflt;
  }
  size_t flen = 0;
  char *file = read_file(path, &flen);
  char *body;
  size_t len;
  const char *what;
  if (file && flen > 0) {
    size_t lines = 0;
    for (size_t i = 0; i < flen; i++) lines += file[i] == '\n';
    size_t reps = lines ? (10000 + lines - 1) / lines : 1;
    body = malloc(flen * reps);
    if (!body) abort();
    for (size_t r = 0; r < reps; r++) memcpy(body + r * flen, file, flen);
    len = flen * reps;
    what = path;
    printf("body: %s x%zu (%zu lines, %zu bytes)\n", path, reps, lines * reps, len);
  } else {
    body = generate(10000, &len);
    what = "generated";
    printf("body: generated node_cpu_seconds_total, 10000 lines, %zu bytes\n", len);
  }
  free(file);

  expfmt_parser_t *p = expfmt_parser_new(body, len, EXPFMT_FORMAT_TEXT);
  expfmt_entry_t e;
  size_t per_body = 0, sink = 0;
  int rc;
  while ((rc = expfmt_parser_next(p, &e)) > 0) per_body += e.kind == EXPFMT_SERIES;
  if (rc < 0) {
    fprintf(stderr, "parse error in %s: %s\n", what, expfmt_parser_error(p));
    return 1;
  }
  if (iters <= 0) iters = (long)(3000000 / (per_body ? per_body : 1)) + 1;

  static const char *const modes[] = {"eager", "lazy", "lazy+labels"};
  for (int mode = 0; mode < 3; mode++) {
    if (only && strcmp(only, modes[mode]) != 0) continue;
    expfmt_parser_set_lazy(p, mode > 0);
    double t0 = now_s();
    size_t samples = 0;
    for (long it = 0; it < iters; it++) {
      expfmt_parser_reset(p, body, len, EXPFMT_FORMAT_TEXT);
      while ((rc = expfmt_parser_next(p, &e)) > 0) {
        if (e.kind != EXPFMT_SERIES) continue;
        samples++;
        sink += e.series.len + (size_t)e.value;
        if (mode == 1) continue;
        if (mode == 2 && expfmt_parser_labels(p, &e) < 0) abort();
        sink += e.name.len;
        for (size_t i = 0; i < e.nlabels; i++)
          sink += e.labels[i].name.len + e.labels[i].value.len;
      }
      if (rc < 0) abort();
    }
    double dt = now_s() - t0;
    printf("%-12s %ld iterations, %zu samples in %.3f s: ", modes[mode], iters,
           samples, dt);
    printf("%.0f samples/s, %.1f ns/sample, %.0f MB/s (sink %zu)\n",
           (double)samples / dt, dt * 1e9 / (double)samples,
           (double)len * (double)iters / dt / 1e6, sink & 1);
  }
  expfmt_parser_free(p);
  free(body);
  return 0;
}
