/*
 * netstat.c - the netstat collector: protocol counters from
 * /proc/net/netstat and /proc/net/snmp (pairs of lines "Proto: names…" /
 * "Proto: values…") and /proc/net/snmp6 ("Ip6InOctets 123" lines, the
 * protocol ending at the first '6').  Keys "<Proto>_<Name>" matching
 * --collector.netstat.fields become untyped node_netstat_<Proto>_<Name>.
 * As in node_exporter, a protocol seen again in a later file replaces the
 * earlier one.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
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
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[3];
    if (ph_fields(line, f, 3) < 2) continue;
    char *six = strchr(f[0], '6');
    if (six == NULL) continue;
    char *proto = arena_strndup(c->arena, f[0], (size_t)(six - f[0]) + 1);
    ph_assert(proto != NULL);
    drop_proto(l, start, proto);
    push(c, l, proto, six + 1, f[1]);
  }
  return 0;
}

static int netstat_init(const exporter_options_t *o, void **state, char *err,
                        size_t errlen) {
  *state = ph_regex_new(exporter_options_get(o, "collector.netstat.fields"), err, errlen);
  return *state ? 0 : PH_EINVAL;
}

static void netstat_free(void *s) { ph_regex_free(s); }

static int netstat_collect(collect_ctx_t *c, void *state) {
  kv_list_t l = {0};
  int rc;
  if ((rc = parse_pairs(c, "net/netstat", &l)) < 0) return rc;
  if ((rc = parse_pairs(c, "net/snmp", &l)) < 0) return rc;
  if ((rc = parse_snmp6(c, &l)) < 0) return rc;
  for (size_t i = 0; i < l.n; i++) {
    stat_kv_t *kv = &l.v[i];
    if (kv->proto == NULL) continue;
    char key[256], name[300], help[300];
    snprintf(key, sizeof(key), "%s_%s", kv->proto, kv->name);
    double v;
    if (!ph_parse_double(kv->value, &v)) return PH_EPARSE;
    if (!ph_regex_match(state, key)) continue;
    snprintf(name, sizeof(name), "node_netstat_%s", key);
    snprintf(help, sizeof(help), "Statistic %s%s.", kv->proto, kv->name);
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
