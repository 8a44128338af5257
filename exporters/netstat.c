/*
 * netstat.c - the netstat collector: protocol counters from
 * /proc/net/netstat and /proc/net/snmp (pairs of lines "Proto: names…" /
 * "Proto: values…") and /proc/net/snmp6 ("Ip6InOctets 123" lines, the
 * protocol ending at the first '6').  Keys "<Proto>_<Name>" matching
 * --collector.netstat.fields become untyped node_netstat_<Proto>_<Name>.
 * As in node_exporter, a protocol seen again in a later file replaces the
 * earlier one.
 *
 * The files hold the same few hundred keys every scrape, so whether a key
 * matches the fields regex is remembered in a small hash set kept in the
 * collector's state (at most MEMO_MAX keys; later ones are matched each
 * time), and the metric name and help are built with memcpy.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const exporter_flag_t netstat_flags[] = {
    {"collector.netstat.fields", FLAG_STRING,
     "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|"
     "Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|"
     "TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|"
     "OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|"
     "OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
     "Regexp of fields to return for netstat collector."},
    {NULL, 0, NULL, NULL},
};

typedef struct stat_kv {
  const char *proto, *name, *value;
} stat_kv_t;

typedef struct kv_list {
  stat_kv_t *v;
  size_t n, cap;
} kv_list_t;

static void push(collect_ctx_t *c, kv_list_t *l, const char *proto,
                 const char *name, const char *value) {
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 256;
    stat_kv_t *nv = arena_alloc(c->arena, ncap * sizeof(*nv));
    ph_assert(nv != NULL);
    if (l->n) memcpy(nv, l->v, l->n * sizeof(*nv));
    l->v = nv;
    l->cap = ncap;
  }
  l->v[l->n++] = (stat_kv_t){proto, name, value};
}

/* Drops earlier entries of proto (a later file replaces the protocol). */
static void drop_proto(kv_list_t *l, size_t upto, const char *proto) {
  for (size_t i = 0; i < upto; i++)
    if (l->v[i].proto != NULL && strcmp(l->v[i].proto, proto) == 0)
      l->v[i].proto = NULL;
}

static int parse_pairs(collect_ctx_t *c, const char *file, kv_list_t *l) {
  char path[PATH_MAX], *data;
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "%s", file), &data, NULL);
  if (rc < 0) return rc;
  size_t start = l->n;
  char *names, *values;
  while ((names = ph_next_line(&data)) != NULL) {
    values = ph_next_line(&data);
    if (values == NULL) values = (char *)"";
    char *np[512], *vp[512];
    size_t nn = ph_split(names, ' ', np, 512);
    size_t nv = ph_split(values, ' ', vp, 512);
    size_t pl = strlen(np[0]);
    if (pl == 0) continue;
    np[0][pl - 1] = '\0'; /* trailing ':' */
    if (nn != nv) return PH_EPARSE;
    drop_proto(l, start, np[0]);
    for (size_t i = l->n; i-- > start;)
      if (l->v[i].proto && strcmp(l->v[i].proto, np[0]) == 0) l->v[i].proto = NULL;
    for (size_t i = 1; i < nn; i++) push(c, l, np[0], np[i], vp[i]);
  }
  return 0;
}

static int parse_snmp6(collect_ctx_t *c, kv_list_t *l) {
  char path[PATH_MAX], *data, *line;
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "net/snmp6"), &data, NULL);
  if (rc == PH_ENOTFOUND) return 0; /* IPv6 disabled */
  if (rc < 0) return rc;
  size_t start = l->n;
  const char *proto = NULL; /* a protocol's lines come together */
  size_t plen = 0;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[3];
    if (ph_fields(line, f, 3) < 2) continue;
    char *six = strchr(f[0], '6');
    if (six == NULL) continue;
    size_t len = (size_t)(six - f[0]) + 1;
    if (proto == NULL || len != plen || memcmp(proto, f[0], len) != 0) {
      proto = arena_strndup(c->arena, f[0], len);
      ph_assert(proto != NULL);
      plen = len;
      drop_proto(l, start, proto);
    }
    push(c, l, proto, six + 1, f[1]);
  }
  return 0;
}

#define MEMO_MAX 4096

typedef struct memo_ent {
  char *key; /* owned; NULL empty */
  uint64_t hash;
  bool match;
} memo_ent_t;

typedef struct netstat_state {
  ph_regex_t *fields;
  memo_ent_t *tab; /* open addressing, cap slots (a power of two) */
  size_t n, cap;
} netstat_state_t;

static int netstat_init(const exporter_options_t *o, void **state, char *err,
                        size_t errlen) {
  netstat_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  s->fields = ph_regex_new(exporter_options_get(o, "collector.netstat.fields"), err, errlen);
  return s->fields ? 0 : PH_EINVAL;
}

static void netstat_free(void *p) {
  netstat_state_t *s = p;
  if (s == NULL) return;
  for (size_t i = 0; i < s->cap; i++) free(s->tab[i].key);
  free(s->tab);
  ph_regex_free(s->fields);
  free(s);
}

/* Whether key matches the fields regex, remembered. */
static bool field_wanted(netstat_state_t *s, const char *key) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  if (s->cap > 0) {
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)h & mask; s->tab[i].key != NULL; i = (i + 1) & mask)
      if (s->tab[i].hash == h && strcmp(s->tab[i].key, key) == 0) return s->tab[i].match;
  }
  bool m = ph_regex_match(s->fields, key);
  if (s->n >= MEMO_MAX) return m;
  if ((s->n + 1) * 2 > s->cap) { /* grow: at most half full */
    size_t ncap = s->cap ? s->cap * 2 : 512;
    memo_ent_t *nt = ph_calloc(ncap, sizeof(*nt));
    for (size_t k = 0; k < s->cap; k++) {
      if (s->tab[k].key == NULL) continue;
      size_t j = (size_t)s->tab[k].hash & (ncap - 1);
      while (nt[j].key != NULL) j = (j + 1) & (ncap - 1);
      nt[j] = s->tab[k];
    }
    free(s->tab);
    s->tab = nt;
    s->cap = ncap;
  }
  size_t i = (size_t)h & (s->cap - 1);
  while (s->tab[i].key != NULL) i = (i + 1) & (s->cap - 1);
  s->tab[i] = (memo_ent_t){ph_strdup(key), h, m};
  s->n++;
  return m;
}

/* dst = a + b + c (dst has room for all of them and a NUL). */
static void cat3(char *dst, const char *a, size_t la, const char *b, size_t lb, const char *c,
                 size_t lc) {
  memcpy(dst, a, la);
  memcpy(dst + la, b, lb);
  memcpy(dst + la + lb, c, lc);
  dst[la + lb + lc] = '\0';
}

static int netstat_collect(collect_ctx_t *c, void *state) {
  netstat_state_t *s = state;
  kv_list_t l = {0};
  int rc;
  if ((rc = parse_pairs(c, "net/netstat", &l)) < 0) return rc;
  if ((rc = parse_pairs(c, "net/snmp", &l)) < 0) return rc;
  if ((rc = parse_snmp6(c, &l)) < 0) return rc;
  for (size_t i = 0; i < l.n; i++) {
    stat_kv_t *kv = &l.v[i];
    if (kv->proto == NULL) continue;
    size_t lp = strlen(kv->proto), ln = strlen(kv->name);
    if (lp + ln > 480) return PH_EPARSE; /* no kernel prints such names */
    char key[512], name[530], help[530];
    cat3(key, kv->proto, lp, "_", 1, kv->name, ln);
    double v;
    if (!ph_parse_double(kv->value, &v)) return PH_EPARSE;
    if (!field_wanted(s, key)) continue;
    cat3(name, "node_netstat_", 13, key, lp + 1 + ln, "", 0);
    cat3(help, "Statistic ", 10, kv->proto, lp, kv->name, ln);
    memcpy(help + 10 + lp + ln, ".", 2);
    cc_untyped(c, name, help, v, NULL);
  }
  return 0;
}

const collector_def_t collector_netstat = {
    .name = "netstat",
    .default_enabled = true,
    .flags = netstat_flags,
    .init = netstat_init,
    .free = netstat_free,
    .collect = netstat_collect,
};
