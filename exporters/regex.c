/*
 * regex.c - node_exporter's regex flags (Go regexp, RE2 syntax) on PCRE2.
 *
 * Go's MatchString is unanchored, so patterns are compiled as given and
 * matched anywhere; the JIT is used when available.  Each regex keeps one
 * match-data block (a single ovector pair: only success matters) guarded by
 * a mutex, so a match allocates nothing (collectors run one at a time, but
 * the pharos server may scrape its own host from several threads).  ph_devfilter_t is
 * node_exporter's deviceFilter: a name is ignored when the exclude pattern
 * matches it, or when an include pattern is set and does not match.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <pcre2.h>
#include <pthread.h>
#include <string.h>

struct ph_regex {
  pcre2_code *code;
  pcre2_match_data *md; /* owned; used under mu */
  pthread_mutex_t mu;
};

ph_regex_t *ph_regex_new(const char *pattern, char *err, size_t errlen) {
  int ec;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF, &ec, &off, NULL);
  if (code == NULL) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof(msg));
    ph_err(err, errlen, PH_EINVAL, "error parsing regexp %s: %s at offset %zu",
           pattern, (const char *)msg, (size_t)off);
    return NULL;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional speed-up */
  ph_regex_t *re = ph_calloc(1, sizeof(*re));
  re->code = code;
  re->md = pcre2_match_data_create(1, NULL);
  ph_assert(re->md != NULL);
  pthread_mutex_init(&re->mu, NULL);
  return re;
}

void ph_regex_free(ph_regex_t *re) {
  if (re == NULL) return;
  pcre2_code_free(re->code);
  pcre2_match_data_free(re->md);
  pthread_mutex_destroy(&re->mu);
  free(re);
}

bool ph_regex_match(const ph_regex_t *re, const char *s) {
  ph_regex_t *m = (ph_regex_t *)re; /* the match data is scratch space */
  pthread_mutex_lock(&m->mu);
  int rc = pcre2_match(m->code, (PCRE2_SPTR)s, strlen(s), 0, 0, m->md, NULL);
  pthread_mutex_unlock(&m->mu);
  return rc >= 0;
}

int ph_devfilter_init(ph_devfilter_t *f, const char *include,
                      const char *exclude, char *err, size_t errlen) {
  memset(f, 0, sizeof(*f));
  if (include != NULL && *include != '\0') {
    f->include = ph_regex_new(include, err, errlen);
    if (f->include == NULL) return PH_EINVAL;
  }
  if (exclude != NULL && *exclude != '\0') {
    f->exclude = ph_regex_new(exclude, err, errlen);
    if (f->exclude == NULL) {
      ph_devfilter_free(f);
      return PH_EINVAL;
    }
  }
  return 0;
}

void ph_devfilter_free(ph_devfilter_t *f) {
  ph_regex_free(f->include);
  ph_regex_free(f->exclude);
  f->include = f->exclude = NULL;
}

bool ph_devfilter_ignored(const ph_devfilter_t *f, const char *name) {
  if (f->exclude != NULL && ph_regex_match(f->exclude, name)) return true;
  if (f->include != NULL && !ph_regex_match(f->include, name)) return true;
  return false;
}
