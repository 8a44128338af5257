/*
 * smart.c - the smart collector: disk health from smartmontools' `smartctl
 * --json`, under smartctl_exporter's metric names, so its dashboards and
 * alerts work without running smartctl_exporter.
 *
 * Reading SMART data is slow (hundreds of milliseconds per disk) and must
 * never wake a sleeping disk, so it is not done during a scrape.  A
 * background thread, started by init, refreshes a cache every
 * --collector.smart.interval (default 5m):
 *
 *   1. the devices are the --collector.smart.device values ("path" or
 *      "path;type", e.g. "/dev/bus/0;megaraid,3"), or, when none is given,
 *      what `smartctl --scan-open --json` lists (name and type), re-scanned
 *      at every refresh;
 *   2. each one is read with `smartctl --json -a -n standby [-d type] path`
 *      (posix_spawn in its own process group, stdout through a pipe polled
 *      in 100 ms slices); after --collector.smart.timeout the group is
 *      killed and the device counts as failed;
 *   3. the JSON is parsed with json-c into a list of samples; a device in
 *      standby (smartctl exit bit 1 with "-n standby") keeps the samples of
 *      its last successful read;
 *   4. the new list replaces the cache under the state's mutex.
 *
 * A scrape copies the cached samples into the metric set and returns at
 * once.  The collector fails (node_scrape_collector_success 0, the reason
 * logged) when the last refresh could not run smartctl (missing binary,
 * scan failure) or could not read a device (timeout, bad JSON, open
 * failure); samples of the devices that were read are still served.
 * Before the first refresh has finished it reports no data yet.
 *
 * Metrics (label `device` is smartctl_exporter's: the name without
 * "/dev/", "/dev/disk/by-id/" or "/dev/disk/by-path/", '/' as '_', and
 * "_<type>" with ',' as '_' appended when the type has a comma, e.g.
 * "bus_0_megaraid_3"):
 *   smartctl_devices, smartctl_version{json_format_version,
 *   smartctl_version,svn_revision,build_info}, smartctl_device{device,
 *   interface,protocol,model_family,model_name,serial_number,
 *   ata_additional_product_id,firmware_version,ata_version,sata_version,
 *   form_factor,scsi_vendor,scsi_product,scsi_revision,scsi_version},
 *   smartctl_device_smartctl_exit_status, _capacity_blocks,
 *   _capacity_bytes, _nvme_capacity_bytes, _block_size{blocks_type},
 *   _interface_speed{speed_type}, _attribute{attribute_name,
 *   attribute_flags_short,attribute_flags_long,attribute_value_type=
 *   value|worst|thresh|raw,attribute_id}, _power_on_seconds,
 *   _rotation_rate, _temperature{temperature_type}, _power_cycle_count,
 *   _state, _error_log_count{error_log_type},
 *   _self_test_log_count / _self_test_log_error_count{self_test_log_type},
 *   _smart_status; NVMe (protocol "NVMe"): _percentage_used,
 *   _available_spare, _available_spare_threshold, _critical_warning,
 *   _media_errors, _num_err_log_entries, _bytes_read, _bytes_written
 *   (data units x 512000); SCSI (protocol "SCSI"):
 *   smartctl_scsi_grown_defect_list, smartctl_{read,write}_errors_
 *   corrected_by_{rereads_rewrites,eccfast,eccdelayed},
 *   smartctl_{read,write}_total_uncorrected_errors, and _bytes_read /
 *   _bytes_written (gigabytes processed x 1e9).  Types and HELP texts are
 *   smartctl_exporter v0.14's.  Unlike smartctl_exporter, the NVMe/SCSI
 *   groups are chosen by protocol, so disks behind a MegaRAID controller
 *   (type "sat+megaraid,N" / "megaraid,N") get them too.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SMART_MAX_OUTPUT (16u << 20) /* more JSON than this is an error */
#define SMART_MAX_LABELS 16

static const exporter_flag_t smart_flags[] = {
    {"collector.smart.smartctl", FLAG_STRING, "smartctl",
     "smartctl binary (looked up on PATH unless it contains a '/')."},
    {"collector.smart.device", FLAG_STRINGS, "",
     "Device to read, as \"path\" or \"path;type\" (e.g. \"/dev/sda\", "
     "\"/dev/bus/0;megaraid,2\"). Repeatable. Default: what "
     "`smartctl --scan-open` finds."},
    {"collector.smart.interval", FLAG_STRING, "5m",
     "How often SMART data is read in the background (cached between "
     "scrapes)."},
    {"collector.smart.timeout", FLAG_STRING, "60s",
     "Time after which one smartctl run is killed."},
    {NULL, 0, NULL, NULL},
};

/* ---- the cached samples ---- */

typedef struct smart_sample {
  const char *name; /* static */
  const char *help; /* static */
  expo_type_t type;
  size_t n;
  char *lnames[SMART_MAX_LABELS]; /* owned */
  char *lvalues[SMART_MAX_LABELS];
  double v;
} smart_sample_t;

typedef struct smart_list {
  smart_sample_t *s;
  size_t n, cap;
} smart_list_t;

static void list_clear(smart_list_t *l) {
  for (size_t i = 0; i < l->n; i++)
    for (size_t k = 0; k < l->s[i].n; k++) {
      free(l->s[i].lnames[k]);
      free(l->s[i].lvalues[k]);
    }
  l->n = 0;
}

static void list_free(smart_list_t *l) {
  list_clear(l);
  free(l->s);
  l->s = NULL;
  l->cap = 0;
}

/* Adds a sample; labels are name/value pairs ending with NULL. */
static void add(smart_list_t *l, expo_type_t type, const char *name, const char *help,
                double v, ...) __attribute__((sentinel));
static void add(smart_list_t *l, expo_type_t type, const char *name, const char *help,
                double v, ...) {
  ph_grow(&l->s, &l->cap, l->n + 1);
  smart_sample_t *s = &l->s[l->n++];
  memset(s, 0, sizeof(*s));
  s->name = name;
  s->help = help;
  s->type = type;
  s->v = v;
  va_list ap;
  va_start(ap, v);
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL) {
    const char *val = va_arg(ap, const char *);
    ph_assert(s->n < SMART_MAX_LABELS);
    s->lnames[s->n] = ph_strdup(k);
    s->lvalues[s->n] = ph_strdup(val ? val : "");
    s->n++;
  }
  va_end(ap);
}

/* Moves the samples of src labelled device=dev to the end of dst. */
static void list_take_device(smart_list_t *dst, smart_list_t *src, const char *dev) {
  size_t k = 0;
  for (size_t i = 0; i < src->n; i++) {
    smart_sample_t *s = &src->s[i];
    bool match = false;
    for (size_t j = 0; j < s->n; j++)
      if (strcmp(s->lnames[j], "device") == 0 && strcmp(s->lvalues[j], dev) == 0) match = true;
    if (match) {
      ph_grow(&dst->s, &dst->cap, dst->n + 1);
      dst->s[dst->n++] = *s;
    } else {
      src->s[k++] = *s;
    }
  }
  src->n = k;
}

/* ---- state ---- */

typedef struct smart_dev {
  char *path; /* owned */
  char *type; /* owned; NULL: smartctl decides */
} smart_dev_t;

typedef struct smart_state {
  char *smartctl; /* owned */
  smart_dev_t *devs; /* from the flags */
  size_t ndevs;
  int64_t interval_ms, timeout_ms;

  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;          /* under mu */
  atomic_bool stopping; /* read by the smartctl runner without the lock */
  unsigned refreshes; /* completed refreshes; under mu */
  smart_list_t cache; /* under mu */
  char error[512];    /* last refresh's failure; "" when none; under mu */
  /* "path;type" as requested -> device label of its last read (the label
   * follows the type smartctl reports, e.g. "sat+megaraid,2"); used to keep
   * a sleeping disk's samples.  Touched by the thread only. */
  char **label_keys, **label_vals;
  size_t nlabels, caplabels, caplabels2;
} smart_state_t;

static void label_remember(smart_state_t *st, const smart_dev_t *d, const char *label) {
  char key[600];
  snprintf(key, sizeof(key), "%s;%s", d->path, d->type ? d->type : "");
  for (size_t i = 0; i < st->nlabels; i++)
    if (strcmp(st->label_keys[i], key) == 0) {
      free(st->label_vals[i]);
      st->label_vals[i] = ph_strdup(label);
      return;
    }
  ph_grow(&st->label_keys, &st->caplabels, st->nlabels + 1);
  ph_grow(&st->label_vals, &st->caplabels2, st->nlabels + 1);
  st->label_keys[st->nlabels] = ph_strdup(key);
  st->label_vals[st->nlabels++] = ph_strdup(label);
}

static void label_of(smart_state_t *st, const smart_dev_t *d, char *out, size_t n) {
  char key[600];
  snprintf(key, sizeof(key), "%s;%s", d->path, d->type ? d->type : "");
  for (size_t i = 0; i < st->nlabels; i++)
    if (strcmp(st->label_keys[i], key) == 0) {
      snprintf(out, n, "%s", st->label_vals[i]);
      return;
    }
  out[0] = '\0';
}

/* ---- running smartctl ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv with stdout captured into *out (malloc'd, NUL-terminated).
 * *status gets the exit code.  PH_ENOTFOUND when the binary cannot be
 * run, PH_ETIMEOUT (group killed) after timeout_ms, PH_ECANCELED when the
 * collector is stopping, PH_ELIMIT for huge outputs; err says why. */
static int run_cmd(smart_state_t *st, char *const argv[], char **out, int *status, char *err,
                   size_t errlen) {
  *out = NULL;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return ph_err(err, errlen, PH_EIO, "pipe: %s", strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  sigaddset(&dfl, SIGTERM);
  sigaddset(&dfl, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return ph_err(err, errlen, PH_ENOTFOUND, "cannot run %s: %s", argv[0], strerror(rc));
  }
  strbuf_t b = STRBUF_INIT;
  double deadline = now_s() + (double)st->timeout_ms / 1000.0;
  int ret = 0;
  for (;;) {
    if (atomic_load(&st->stopping)) {
      ret = ph_err(err, errlen, PH_ECANCELED, "%s canceled: collector stopping", argv[0]);
      break;
    }
    double left = deadline - now_s();
    if (left <= 0) {
      ret = ph_err(err, errlen, PH_ETIMEOUT, "%s timed out after %gs", argv[0],
                   (double)st->timeout_ms / 1000.0);
      break;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    int ms = left > 0.1 ? 100 : (int)(left * 1000) + 1;
    int pr = poll(&p, 1, ms);
    if (pr < 0 && errno != EINTR) {
      ret = ph_err(err, errlen, PH_EIO, "poll: %s", strerror(errno));
      break;
    }
    if (pr <= 0) continue;
    char chunk[8192];
    ssize_t r = read(fds[0], chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ret = ph_err(err, errlen, PH_EIO, "read from %s: %s", argv[0], strerror(errno));
      break;
    }
    if (r == 0) break; /* EOF */
    strbuf_append(&b, chunk, (size_t)r);
    if (b.len > SMART_MAX_OUTPUT) {
      ret = ph_err(err, errlen, PH_ELIMIT, "%s wrote more than %u bytes", argv[0],
                   SMART_MAX_OUTPUT);
      break;
    }
  }
  close(fds[0]);
  if (ret < 0) kill(-pid, SIGKILL); /* the group: a script's children too */
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  if (ret < 0) {
    strbuf_free(&b);
    return ret;
  }
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
  if (b.data == NULL) strbuf_puts(&b, "");
  *out = strbuf_detach(&b, NULL);
  return 0;
}

/* ---- JSON helpers ---- */

static json_object *jget(json_object *o, const char *path) {
  /* dotted path: "user_capacity.bytes" */
  char key[128];
  const char *p = path;
  while (o != NULL && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof(key)) return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    json_object *next = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &next))
      return NULL;
    o = next;
    p = dot ? dot + 1 : p + n;
  }
  return o;
}

/* A number (or a numeric string, or a bool) at path; false when absent. */
static bool jnum(json_object *o, const char *path, double *v) {
  json_object *x = jget(o, path);
  if (x == NULL) return false;
  switch (json_object_get_type(x)) {
  case json_type_int:
    *v = (double)json_object_get_int64(x);
    if (*v >= 9.2e18) *v = (double)json_object_get_uint64(x);
    return true;
  case json_type_double:
    *v = json_object_get_double(x);
    return true;
  case json_type_boolean:
    *v = json_object_get_boolean(x) ? 1 : 0;
    return true;
  case json_type_string:
    return ph_parse_double(json_object_get_string(x), v);
  default:
    return false;
  }
}

static double jnum0(json_object *o, const char *path) {
  double v = 0;
  jnum(o, path, &v);
  return v;
}

/* The string at path, trimmed into buf; def when absent. */
static const char *jstr(json_object *o, const char *path, const char *def, char *buf,
                        size_t n) {
  json_object *x = jget(o, path);
  if (x == NULL) return def;
  const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x)
                                                           : json_object_to_json_string(x);
  while (*s == ' ' || *s == '\t') s++;
  snprintf(buf, n, "%s", s);
  size_t l = strlen(buf);
  while (l > 0 && (buf[l - 1] == ' ' || buf[l - 1] == '\t' || buf[l - 1] == '\n')) buf[--l] = 0;
  return buf;
}

/* smartctl_exporter's device label. */
static void device_label(const char *name, const char *type, char *out, size_t n) {
  const char *p = name;
  if (ph_has_prefix(p, "/dev/disk/by-id/")) p += 16;
  else if (ph_has_prefix(p, "/dev/disk/by-path/")) p += 18;
  else if (ph_has_prefix(p, "/dev/")) p += 5;
  snprintf(out, n, "%s", p);
  for (char *q = out; *q; q++)
    if (*q == '/') *q = '_';
  if (type != NULL && strchr(type, ',') != NULL) {
    size_t l = strlen(out);
    snprintf(out + l, n - l, "_%s", type);
    for (char *q = out + l; *q; q++)
      if (*q == ',') *q = '_';
  }
}

static void long_flags(json_object *flags, const char *const *names, size_t nn, char *out,
                       size_t n) {
  out[0] = '\0';
  for (size_t i = 0; i < nn; i++) {
    json_object *x = jget(flags, names[i]);
    if (x == NULL || !json_object_get_boolean(x)) continue;
    size_t l = strlen(out);
    snprintf(out + l, n - l, "%s%s", l ? "," : "", names[i]);
  }
}

/* ---- JSON to samples ---- */

#define G EXPO_GAUGE
#define C EXPO_COUNTER

static void device_samples(smart_list_t *l, json_object *j, const char *dev) {
  char b[16][256];
  const char *type = jstr(j, "device.type", "", b[0], sizeof(b[0]));
  const char *proto = jstr(j, "device.protocol", "", b[1], sizeof(b[1]));
  const char *model = jstr(j, "model_name", NULL, b[2], sizeof(b[2]));
  if (model == NULL) model = jstr(j, "scsi_model_name", "", b[2], sizeof(b[2]));
  if (model[0] == '\0') model = "unknown";
  add(l, G, "smartctl_device", "Device info", 1, "device", dev, "interface", type, "protocol",
      proto, "model_family", jstr(j, "model_family", "unknown", b[3], sizeof(b[3])),
      "model_name", model, "serial_number", jstr(j, "serial_number", "", b[4], sizeof(b[4])),
      "ata_additional_product_id",
      jstr(j, "ata_additional_product_id", "unknown", b[5], sizeof(b[5])), "firmware_version",
      jstr(j, "firmware_version", "", b[6], sizeof(b[6])), "ata_version",
      jstr(j, "ata_version.string", "", b[7], sizeof(b[7])), "sata_version",
      jstr(j, "sata_version.string", "", b[8], sizeof(b[8])), "form_factor",
      jstr(j, "form_factor.name", "", b[9], sizeof(b[9])), "scsi_vendor",
      jstr(j, "scsi_vendor", "", b[10], sizeof(b[10])), "scsi_product",
      jstr(j, "scsi_product", "", b[11], sizeof(b[11])), "scsi_revision",
      jstr(j, "scsi_revision", "", b[12], sizeof(b[12])), "scsi_version",
      jstr(j, "scsi_version", "", b[13], sizeof(b[13])), NULL);
  add(l, G, "smartctl_device_smartctl_exit_status", "Exit status of smartctl on device",
      jnum0(j, "smartctl.exit_status"), "device", dev, NULL);
  add(l, G, "smartctl_device_capacity_blocks", "Device capacity in blocks",
      jnum0(j, "user_capacity.blocks"), "device", dev, NULL);
  add(l, G, "smartctl_device_capacity_bytes", "Device capacity in bytes",
      jnum0(j, "user_capacity.bytes"), "device", dev, NULL);
  double v;
  if (jnum(j, "nvme_total_capacity", &v))
    add(l, G, "smartctl_device_nvme_capacity_bytes", "NVMe device total capacity bytes", v,
        "device", dev, NULL);
  add(l, G, "smartctl_device_block_size", "Device block size", jnum0(j, "logical_block_size"),
      "device", dev, "blocks_type", "logical", NULL);
  add(l, G, "smartctl_device_block_size", "Device block size", jnum0(j, "physical_block_size"),
      "device", dev, "blocks_type", "physical", NULL);
  static const char *const speeds[] = {"max", "current"};
  for (size_t i = 0; i < 2; i++) {
    char p1[64], p2[64];
    snprintf(p1, sizeof(p1), "interface_speed.%s", speeds[i]);
    if (jget(j, p1) == NULL) continue;
    snprintf(p1, sizeof(p1), "interface_speed.%s.units_per_second", speeds[i]);
    snprintf(p2, sizeof(p2), "interface_speed.%s.bits_per_unit", speeds[i]);
    add(l, G, "smartctl_device_interface_speed", "Device interface speed, bits per second",
        jnum0(j, p1) * jnum0(j, p2), "device", dev, "speed_type", speeds[i], NULL);
  }
  json_object *table = jget(j, "ata_smart_attributes.table");
  if (table != NULL && json_object_is_type(table, json_type_array)) {
    static const char *const fl[] = {"prefailure", "updated_online", "performance",
                                     "error_rate", "event_count",    "auto_keep"};
    static const char *const vt[][2] = {
        {"value", "value"}, {"worst", "worst"}, {"thresh", "thresh"}, {"raw", "raw.value"}};
    for (size_t i = 0; i < json_object_array_length(table); i++) {
      json_object *a = json_object_array_get_idx(table, i);
      char name[128], fshort[32], flong[128], id[16];
      jstr(a, "name", "", name, sizeof(name));
      jstr(a, "flags.string", "", fshort, sizeof(fshort));
      long_flags(jget(a, "flags"), fl, 6, flong, sizeof(flong));
      snprintf(id, sizeof(id), "%.0f", jnum0(a, "id"));
      for (size_t k = 0; k < 4; k++)
        add(l, G, "smartctl_device_attribute", "Device attributes", jnum0(a, vt[k][1]),
            "device", dev, "attribute_name", name, "attribute_flags_short", fshort,
            "attribute_flags_long", flong, "attribute_value_type", vt[k][0], "attribute_id", id,
            NULL);
    }
  }
  if (jget(j, "power_on_time") != NULL)
    add(l, C, "smartctl_device_power_on_seconds", "Device power on seconds",
        jnum0(j, "power_on_time.hours") * 3600 + jnum0(j, "power_on_time.minutes") * 60,
        "device", dev, NULL);
  if (jnum(j, "rotation_rate", &v) && v > 0)
    add(l, G, "smartctl_device_rotation_rate", "Device rotation rate", v, "device", dev, NULL);
  json_object *temps = jget(j, "temperature");
  if (temps != NULL && json_object_is_type(temps, json_type_object)) {
    json_object_object_foreach(temps, key, val) {
      double t = 0;
      if (json_object_is_type(val, json_type_int) || json_object_is_type(val, json_type_double))
        t = json_object_get_double(val);
      add(l, G, "smartctl_device_temperature", "Device temperature celsius", t, "device", dev,
          "temperature_type", key, NULL);
    }
  }
  if (jnum(j, "power_cycle_count", &v) ||
      jnum(j, "scsi_start_stop_cycle_counter.accumulated_start_stop_cycles", &v))
    add(l, C, "smartctl_device_power_cycle_count", "Device power cycle count", v, "device", dev,
        NULL);
  if (jget(j, "ata_sct_status") != NULL) {
    if (!jnum(j, "ata_sct_status.device_state.value", &v)) v = jnum0(j, "ata_sct_status.device_state");
    add(l, G, "smartctl_device_state",
        "Device state (0=active, 1=standby, 2=sleep, 3=dst, 4=offline, 5=sct)", v, "device", dev,
        NULL);
  }
  json_object *elog = jget(j, "ata_smart_error_log");
  if (elog != NULL && json_object_is_type(elog, json_type_object)) {
    json_object_object_foreach(elog, key, val) {
      add(l, G, "smartctl_device_error_log_count", "Device SMART error log count",
          jnum0(val, "count"), "device", dev, "error_log_type", key, NULL);
    }
  }
  json_object *slog = jget(j, "ata_smart_self_test_log");
  if (slog != NULL && json_object_is_type(slog, json_type_object)) {
    json_object_object_foreach(slog, key, val) {
      add(l, G, "smartctl_device_self_test_log_count", "Device SMART self test log count",
          jnum0(val, "count"), "device", dev, "self_test_log_type", key, NULL);
      add(l, G, "smartctl_device_self_test_log_error_count",
          "Device SMART self test log error count", jnum0(val, "error_count_total"), "device",
          dev, "self_test_log_type", key, NULL);
    }
  }
  if (jget(j, "smart_status") != NULL)
    add(l, G, "smartctl_device_smart_status", "General smart status",
        jnum0(j, "smart_status.passed"), "device", dev, NULL);

  if (strcmp(proto, "NVMe") == 0 || strcmp(type, "nvme") == 0) {
    static const char *const nv[][3] = {
        {"percentage_used", "smartctl_device_percentage_used", "Device write percentage used"},
        {"available_spare", "smartctl_device_available_spare",
         "Normalized percentage (0 to 100%) of the remaining spare capacity available"},
        {"available_spare_threshold", "smartctl_device_available_spare_threshold",
         "When the Available Spare falls below the threshold indicated in this field, an "
         "asynchronous event completion may occur. The value is indicated as a normalized "
         "percentage (0 to 100%)"},
        {"critical_warning", "smartctl_device_critical_warning",
         "This field indicates critical warnings for the state of the controller"},
        {"media_errors", "smartctl_device_media_errors",
         "Contains the number of occurrences where the controller detected an unrecovered data "
         "integrity error. Errors such as uncorrectable ECC, CRC checksum failure, or LBA tag "
         "mismatch are included in this field"},
        {"num_err_log_entries", "smartctl_device_num_err_log_entries",
         "Contains the number of Error Information log entries over the life of the "
         "controller"},
    };
    for (size_t i = 0; i < sizeof(nv) / sizeof(nv[0]); i++) {
      char p[128];
      snprintf(p, sizeof(p), "nvme_smart_health_information_log.%s", nv[i][0]);
      add(l, C, nv[i][1], nv[i][2], jnum0(j, p), "device", dev, NULL);
    }
    if (jnum(j, "nvme_smart_health_information_log.data_units_read", &v) && v != 0)
      add(l, C, "smartctl_device_bytes_read", "", v * 1000.0 * 512.0, "device", dev, NULL);
    if (jnum(j, "nvme_smart_health_information_log.data_units_written", &v) && v != 0)
      add(l, C, "smartctl_device_bytes_written", "", v * 1000.0 * 512.0, "device", dev, NULL);
  }
  if (strcmp(proto, "SCSI") == 0 || strcmp(type, "scsi") == 0) {
    if (jnum(j, "scsi_grown_defect_list", &v))
      add(l, G, "smartctl_scsi_grown_defect_list", "Device SCSI grown defect list counter", v,
          "device", dev, NULL);
    if (jget(j, "scsi_error_counter_log") != NULL) {
      static const char *const ec[][3] = {
          {"read.errors_corrected_by_rereads_rewrites",
           "smartctl_read_errors_corrected_by_rereads_rewrites",
           "Read Errors Corrected by ReReads/ReWrites"},
          {"read.errors_corrected_by_eccfast", "smartctl_read_errors_corrected_by_eccfast",
           "Read Errors Corrected by ECC Fast"},
          {"read.errors_corrected_by_eccdelayed", "smartctl_read_errors_corrected_by_eccdelayed",
           "Read Errors Corrected by ECC Delayed"},
          {"read.total_uncorrected_errors", "smartctl_read_total_uncorrected_errors",
           "Read Total Uncorrected Errors"},
          {"write.errors_corrected_by_rereads_rewrites",
           "smartctl_write_errors_corrected_by_rereads_rewrites",
           "Write Errors Corrected by ReReads/ReWrites"},
          {"write.errors_corrected_by_eccfast", "smartctl_write_errors_corrected_by_eccfast",
           "Write Errors Corrected by ECC Fast"},
          {"write.errors_corrected_by_eccdelayed",
           "smartctl_write_errors_corrected_by_eccdelayed",
           "Write Errors Corrected by ECC Delayed"},
          {"write.total_uncorrected_errors", "smartctl_write_total_uncorrected_errors",
           "Write Total Uncorrected Errors"},
      };
      for (size_t i = 0; i < sizeof(ec) / sizeof(ec[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "scsi_error_counter_log.%s", ec[i][0]);
        if (jnum(j, p, &v)) add(l, G, ec[i][1], ec[i][2], v, "device", dev, NULL);
      }
      add(l, C, "smartctl_device_bytes_read", "",
          jnum0(j, "scsi_error_counter_log.read.gigabytes_processed") * 1e9, "device", dev,
          NULL);
      add(l, C, "smartctl_device_bytes_written", "",
          jnum0(j, "scsi_error_counter_log.write.gigabytes_processed") * 1e9, "device", dev,
          NULL);
    }
  }
}

#undef G
#undef C

static void version_sample(smart_list_t *l, json_object *j) {
  char jv[32], sv[32], b1[128], b2[256];
  json_object *a = jget(j, "json_format_version"), *s = jget(j, "smartctl.version");
  if (a == NULL || s == NULL || !json_object_is_type(a, json_type_array) ||
      !json_object_is_type(s, json_type_array) || json_object_array_length(a) < 2 ||
      json_object_array_length(s) < 2)
    return;
  snprintf(jv, sizeof(jv), "%d.%d", json_object_get_int(json_object_array_get_idx(a, 0)),
           json_object_get_int(json_object_array_get_idx(a, 1)));
  snprintf(sv, sizeof(sv), "%d.%d", json_object_get_int(json_object_array_get_idx(s, 0)),
           json_object_get_int(json_object_array_get_idx(s, 1)));
  add(l, EXPO_GAUGE, "smartctl_version", "smartctl version", 1, "json_format_version", jv,
      "smartctl_version", sv, "svn_revision", jstr(j, "smartctl.svn_revision", "", b1, sizeof(b1)),
      "build_info", jstr(j, "smartctl.build_info", "", b2, sizeof(b2)), NULL);
}

/* ---- one refresh ---- */

/* Devices to read: the flags' list, or a scan.  *devs malloc'd (free with
 * devs_free) unless they are the state's own. */
static void devs_free(smart_dev_t *d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(d[i].path);
    free(d[i].type);
  }
  free(d);
}

static int scan(smart_state_t *st, smart_dev_t **devs, size_t *n, char *err, size_t errlen) {
  char *const argv[] = {st->smartctl, "--scan-open", "--json", NULL};
  char *out;
  int status;
  int rc = run_cmd(st, argv, &out, &status, err, errlen);
  if (rc < 0) return rc;
  json_object *j = json_tokener_parse(out);
  free(out);
  json_object *list = jget(j, "devices");
  if (list == NULL || !json_object_is_type(list, json_type_array)) {
    if (j) json_object_put(j);
    return ph_err(err, errlen, PH_EPARSE, "%s --scan-open --json: no \"devices\" list (exit %d)",
                  st->smartctl, status);
  }
  size_t cnt = json_object_array_length(list);
  *devs = ph_calloc(cnt + 1, sizeof(smart_dev_t));
  *n = 0;
  for (size_t i = 0; i < cnt; i++) {
    json_object *d = json_object_array_get_idx(list, i);
    char nb[256], tb[64];
    const char *name = jstr(d, "name", NULL, nb, sizeof(nb));
    if (name == NULL || name[0] == '\0') continue;
    const char *type = jstr(d, "type", NULL, tb, sizeof(tb));
    (*devs)[*n].path = ph_strdup(name);
    (*devs)[*n].type = type && type[0] ? ph_strdup(type) : NULL;
    (*n)++;
  }
  json_object_put(j);
  return 0;
}

/* Reads one device into l.  1 when it is in standby (nothing read). */
static int read_device(smart_state_t *st, const smart_dev_t *d, smart_list_t *l,
                       json_object **first, char *err, size_t errlen) {
  char *argv[10];
  size_t k = 0;
  argv[k++] = st->smartctl;
  argv[k++] = "--json";
  argv[k++] = "-a";
  argv[k++] = "-n";
  argv[k++] = "standby";
  if (d->type != NULL) {
    argv[k++] = "-d";
    argv[k++] = d->type;
  }
  argv[k++] = d->path;
  argv[k] = NULL;
  char *out;
  int status;
  int rc = run_cmd(st, argv, &out, &status, err, errlen);
  if (rc < 0) return rc;
  enum json_tokener_error jerr;
  json_object *j = json_tokener_parse_verbose(out, &jerr);
  free(out);
  if (j == NULL || !json_object_is_type(j, json_type_object)) {
    if (j) json_object_put(j);
    return ph_err(err, errlen, PH_EPARSE, "%s: smartctl output is not JSON (exit %d)", d->path,
                  status);
  }
  double es = status;
  jnum(j, "smartctl.exit_status", &es);
  int exit_bits = (int)es;
  if (exit_bits & 0x3) {
    /* bit 0: command line; bit 1: open failed or, with -n standby, the
     * disk sleeps: smartctl says so in its messages */
    char msg[256] = "";
    json_object *msgs = jget(j, "smartctl.messages");
    if (msgs && json_object_is_type(msgs, json_type_array) && json_object_array_length(msgs) > 0)
      jstr(json_object_array_get_idx(msgs, 0), "string", "", msg, sizeof(msg));
    json_object_put(j);
    if (strcasestr(msg, "standby") || strcasestr(msg, "sleep") || strcasestr(msg, "idle"))
      return 1;
    return ph_err(err, errlen, PH_EIO, "%s: smartctl exit status %d%s%s", d->path, exit_bits,
                  msg[0] ? ": " : "", msg);
  }
  char tb[64], dev[320];
  const char *name = d->path;
  char nb[256];
  name = jstr(j, "device.name", d->path, nb, sizeof(nb));
  device_label(name, jstr(j, "device.type", d->type ? d->type : "", tb, sizeof(tb)), dev,
               sizeof(dev));
  device_samples(l, j, dev);
  label_remember(st, d, dev);
  if (*first == NULL)
    *first = j;
  else
    json_object_put(j);
  return 0;
}

static void refresh(smart_state_t *st) {
  char err[512] = "";
  smart_dev_t *devs = st->devs, *scanned = NULL;
  size_t n = st->ndevs;
  smart_list_t l = {0};
  int failed = 0;
  if (n == 0) {
    int rc = scan(st, &scanned, &n, err, sizeof(err));
    if (rc < 0) failed = rc;
    devs = scanned;
  }
  json_object *first = NULL;
  smart_list_t keep = {0}; /* standby devices' previous samples */
  char *standby[256];
  size_t nstandby = 0;
  for (size_t i = 0; i < n && !atomic_load(&st->stopping); i++) {
    char derr[512];
    int rc = read_device(st, &devs[i], &l, &first, derr, sizeof(derr));
    if (rc == 1) {
      char dev[320];
      label_of(st, &devs[i], dev, sizeof(dev));
      log_debug("disk in standby; keeping its last SMART data", "device", devs[i].path);
      if (nstandby < 256 && dev[0] != '\0') standby[nstandby++] = ph_strdup(dev);
      continue;
    }
    if (rc == PH_ECANCELED) break; /* stopping: nothing to report */
    if (rc < 0) {
      log_warn("cannot read SMART data", "collector", "smart", "device", devs[i].path, "err",
               derr);
      if (failed == 0) {
        failed = rc;
        snprintf(err, sizeof(err), "%s", derr);
      }
    }
  }
  if (first != NULL) {
    version_sample(&l, first);
    json_object_put(first);
  }
  if (failed == 0 || n > 0)
    add(&l, EXPO_GAUGE, "smartctl_devices", "Number of devices configured or dynamically discovered",
        (double)n, NULL);
  if (failed < 0 && n == 0) log_warn("cannot run smartctl", "collector", "smart", "err", err);
  pthread_mutex_lock(&st->mu);
  for (size_t i = 0; i < nstandby; i++) {
    list_take_device(&keep, &st->cache, standby[i]);
    free(standby[i]);
  }
  for (size_t i = 0; i < keep.n; i++) {
    ph_grow(&l.s, &l.cap, l.n + 1);
    l.s[l.n++] = keep.s[i];
  }
  free(keep.s);
  list_free(&st->cache);
  st->cache = l;
  snprintf(st->error, sizeof(st->error), "%s", failed < 0 ? err : "");
  st->refreshes++;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (scanned != NULL) devs_free(scanned, n);
}

static void *smart_thread(void *arg) {
  smart_state_t *st = arg;
  pthread_mutex_lock(&st->mu);
  while (!st->stop) {
    pthread_mutex_unlock(&st->mu);
    refresh(st);
    pthread_mutex_lock(&st->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = (int64_t)until.tv_nsec + (st->interval_ms % 1000) * 1000000;
    until.tv_sec += (time_t)(st->interval_ms / 1000) + (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    while (!st->stop && pthread_cond_timedwait(&st->cv, &st->mu, &until) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

/* ---- the collector ---- */

static void smart_free(void *state) {
  smart_state_t *st = state;
  if (st == NULL) return;
  if (st->started) {
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    atomic_store(&st->stopping, true);
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
  }
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  list_free(&st->cache);
  devs_free(st->devs, st->ndevs);
  for (size_t i = 0; i < st->nlabels; i++) {
    free(st->label_keys[i]);
    free(st->label_vals[i]);
  }
  free(st->label_keys);
  free(st->label_vals);
  free(st->smartctl);
  free(st);
}

static int parse_dur(const char *flag, const char *s, int64_t *ms, char *err, size_t errlen) {
  char e[128];
  if (s == NULL || ph_parse_duration(s, strlen(s), ms, e, sizeof(e)) < 0 || *ms <= 0)
    return ph_err(err, errlen, PH_EINVAL, "--%s: invalid duration \"%s\"", flag, s ? s : "");
  return 0;
}

static int smart_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  smart_state_t *st = ph_calloc(1, sizeof(*st));
  pthread_mutex_init(&st->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&st->cv, &ca);
  pthread_condattr_destroy(&ca);
  const char *bin = exporter_options_get(o, "collector.smart.smartctl");
  st->smartctl = ph_strdup(bin && bin[0] ? bin : "smartctl");
  const char *const *devs;
  size_t n = exporter_options_get_all(o, "collector.smart.device", &devs);
  st->devs = ph_calloc(n + 1, sizeof(smart_dev_t));
  for (size_t i = 0; i < n; i++) {
    if (devs[i][0] == '\0') continue;
    const char *semi = strchr(devs[i], ';');
    smart_dev_t *d = &st->devs[st->ndevs++];
    if (semi != NULL) {
      d->path = ph_strndup(devs[i], (size_t)(semi - devs[i]));
      d->type = semi[1] ? ph_strdup(semi + 1) : NULL;
    } else {
      d->path = ph_strdup(devs[i]);
    }
  }
  int rc = parse_dur("collector.smart.interval",
                     exporter_options_get(o, "collector.smart.interval"), &st->interval_ms, err,
                     errlen);
  if (rc == 0)
    rc = parse_dur("collector.smart.timeout", exporter_options_get(o, "collector.smart.timeout"),
                   &st->timeout_ms, err, errlen);
  if (rc == 0 && pthread_create(&st->thread, NULL, smart_thread, st) != 0)
    rc = ph_err(err, errlen, PH_EIO, "cannot start the SMART thread");
  if (rc < 0) {
    smart_free(st);
    return rc;
  }
  st->started = true;
  *state = st;
  return 0;
}

static int smart_collect(collect_ctx_t *c, void *state) {
  smart_state_t *st = state;
  pthread_mutex_lock(&st->mu);
  int rc = 0;
  if (st->refreshes == 0) {
    rc = cc_fail(c, PH_ENOTFOUND, "no SMART data yet (first read still running)");
  } else {
    for (size_t i = 0; i < st->cache.n; i++) {
      const smart_sample_t *s = &st->cache.s[i];
      cc_metric(c, s->type, s->name, s->help, s->v, s->n, (const char *const *)s->lnames,
                (const char *const *)s->lvalues);
    }
    if (st->error[0] != '\0') rc = cc_fail(c, PH_EIO, "%s", st->error);
  }
  pthread_mutex_unlock(&st->mu);
  return rc;
}

const collector_def_t collector_smart = {
    .name = "smart",
    .default_enabled = false,
    .flags = smart_flags,
    .init = smart_init,
    .free = smart_free,
    .collect = smart_collect,
};
