/*
 * interrupts.c - the interrupts collector (off by default): /proc/interrupts
 * as node_interrupts_total{cpu,type,info,devices}.  The header counts the
 * CPUs; each row is "<name>: <count per CPU> <details>".  For numbered
 * IRQs the first detail is the chip ("IR-IO-APIC-edge") and the rest the
 * devices; for named rows (LOC, NMI …) all details are the description.
 * Rows with fewer columns than CPUs (ERR, MIS) are skipped.  The
 * name-include/-exclude regexes match "<name>;<info>;<devices>".
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const exporter_flag_t interrupts_flags[] = {
    {"collector.interrupts.include-zeros", FLAG_BOOL, "true",
     "Include interrupts that have a zero value"},
    {"collector.interrupts.name-include", FLAG_STRING, NULL,
     "Regexp of interrupts name to include (mutually exclusive to "
     "--collector.interrupts.name-exclude)."},
    {"collector.interrupts.name-exclude", FLAG_STRING, NULL,
     "Regexp of interrupts name to exclude (mutually exclusive to "
     "--collector.interrupts.name-include)."},
    {NULL, 0, NULL, NULL},
};

typedef struct irq_state {
  ph_devfilter_t filter;
  bool zeros;
} irq_state_t;

static int interrupts_init(const exporter_options_t *o, void **state,
                           char *err, size_t errlen) {
  irq_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  s->zeros = exporter_options_get_bool(o, "collector.interrupts.include-zeros");
  return ph_devfilter_init(&s->filter,
                           exporter_options_get(o, "collector.interrupts.name-include"),
                           exporter_options_get(o, "collector.interrupts.name-exclude"),
                           err, errlen);
}

static void interrupts_free(void *p) {
  irq_state_t *s = p;
  if (s == NULL) return;
  ph_devfilter_free(&s->filter);
  free(s);
}

static void join(char *out, size_t n, char **parts, size_t np) {
  size_t k = 0;
  out[0] = '\0';
  for (size_t i = 0; i < np && k < n; i++)
    k += (size_t)snprintf(out + k, n - k, "%s%s", i ? " " : "", parts[i]);
}

static int interrupts_collect(collect_ctx_t *c, void *state) {
  irq_state_t *s = state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "interrupts"), &data, &len);
  if (rc < 0) return rc;
  line = ph_next_line(&data);
  if (line == NULL) return PH_EPARSE;
  char **hdr = arena_alloc(c->arena, 8192 * sizeof(char *));
  char **parts = arena_alloc(c->arena, 8300 * sizeof(char *));
  ph_assert(hdr != NULL && parts != NULL);
  size_t ncpu = ph_fields(line, hdr, 8192);
  while ((line = ph_next_line(&data)) != NULL) {
    char *colon = strchr(line, ':');
    if (colon == NULL) continue;
    *colon = '\0';
    size_t np = ph_fields(colon + 1, parts, 8300);
    if (np < ncpu + 1) continue;
    char *name = line;
    while (*name == ' ') name++;
    char info[512], devices[1024];
    char *end;
    strtol(name, &end, 10);
    bool numeric = *name != '\0' && *end == '\0';
    if (numeric) {
      snprintf(info, sizeof(info), "%s", parts[ncpu]);
      join(devices, sizeof(devices), parts + ncpu + 1, np - ncpu - 1);
    } else {
      join(info, sizeof(info), parts + ncpu, np - ncpu);
      devices[0] = '\0';
    }
    char filter[2048];
    snprintf(filter, sizeof(filter), "%s;%s;%s", name, info, devices);
    if (ph_devfilter_ignored(&s->filter, filter)) continue;
    for (size_t i = 0; i < ncpu; i++) {
      double v;
      if (!ph_parse_double(parts[i], &v)) return PH_EPARSE;
      if (!s->zeros && v == 0) continue;
      char cpu[24];
      snprintf(cpu, sizeof(cpu), "%zu", i);
      cc_counter(c, "node_interrupts_total", "Interrupt details.", v, "cpu",
                 cpu, "type", name, "info", info, "devices", devices, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_interrupts = {
    .name = "interrupts",
    .default_enabled = false,
    .flags = interrupts_flags,
    .init = interrupts_init,
    .free = interrupts_free,
    .collect = interrupts_collect,
};
