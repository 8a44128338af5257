/*
 * client.h - pharosctl's client of the Prometheus HTTP API (client.c),
 * shared by the main commands (cmd.c) and the promtool-compatible ones
 * (query.c): form encoding, one request with the envelope checked, and the
 * conversion of a query's JSON "data" into a cli_result_t.
 *
 * Kept apart from cli.h because it includes json-c, whose json_object_*
 * names clash with common/json.h's writer that render.c and util.c use.
 */
#ifndef PH_CLI_CLIENT_H
#define PH_CLI_CLIENT_H

#include "cli.h"

#include <json-c/json.h>

/* Why a call failed.  type is the errorType to print: the server's own
 * ("bad_data", "execution", ...) when its answer carries one, else
 * "client_error"/"server_error" (HTTP 4xx/5xx without an API error body),
 * "bad_response" (not the API's JSON) or "" for a transport failure, when
 * msg reads as Go's net/http errors do: Post "url": reason. */
typedef struct cli_api_error {
  char type[64];
  char msg[2048];
} cli_api_error_t;

/* Appends s percent-encoded: all but the unreserved A-Z a-z 0-9 - . _ ~
 * (for a form value or one path segment). */
void cli_url_escape(strbuf_t *out, const char *s);
/* Appends key=value to an application/x-www-form-urlencoded string
 * (percent-encoding all but unreserved characters, '&' between pairs). */
void cli_form_add(strbuf_t *form, const char *key, const char *value);
/* The same with ms written as the API's float seconds ("1700000000.5"). */
void cli_form_add_time(strbuf_t *form, const char *key, int64_t ms);

/* Sends server + path: a form-encoded POST, repeated as a GET if the
 * server answers 405, when post is true; else a GET with form as the query
 * string.  headers (may be NULL) are extra "Name=value" headers.  On
 * success returns 0, *root is the parsed answer (owned by the caller:
 * json_object_put) and *data its "data" member (borrowed from *root).  On
 * failure returns 1 with *err filled. */
int cli_api_call(const char *server, const char *path, const char *form, bool post,
                 const cli_strv_t *headers, json_object **root, json_object **data,
                 cli_api_error_t *err);

/* The "warnings" (and "infos") strings of an answer, printed on stderr as
 * "<prefix><message>". */
void cli_api_print_warnings(json_object *root, const char *prefix);

/* A label set from a JSON object of strings; NULL if malformed.  Owned by
 * the caller. */
labels_t *cli_json_labels(json_object *m);

/* Fills r (initialised here; free it with cli_result_free whatever the
 * outcome) from a query's
 * data {"resultType": ..., "result": ...}.  Native histogram samples
 * cannot be shown in tables or CSV and are left out; *histograms (may be
 * NULL) counts them.  0, or 1 with err filled ("bad_response"). */
int cli_json_to_result(json_object *data, cli_result_t *r, size_t *histograms,
                       cli_api_error_t *err);

#endif
