/*
 * ph_error.h - the one table of error codes used across Pharos.
 *
 * Functions that can fail return 0 on success and a negative PH_E* code on
 * failure; the detail (file, offset, position, field) goes into a message
 * buffer the caller passes (char *err, size_t errlen).  The X-macro below
 * gives each code its name and a short generic message, in the manner of
 * libuv's UV_ERRNO_MAP.
 */
#ifndef PH_ERROR_H
#define PH_ERROR_H

#include <stddef.h>

#define PH_ERRNO_MAP(X)                                                   \
  X(EINVAL,     -1,  "invalid argument")                                 \
  X(ENOMEM,     -2,  "out of memory")                                    \
  X(EPARSE,     -3,  "parse error")                                      \
  X(ECORRUPT,   -4,  "data corruption detected")                         \
  X(ENOSPC,     -5,  "no space left on device")                          \
  X(EIO,        -6,  "input/output error")                               \
  X(ELIMIT,     -7,  "limit exceeded")                                   \
  X(ENOTFOUND,  -8,  "not found")                                        \
  X(EOUTOFORDER,-9,  "out of order sample")                              \
  X(EOUTOFBOUNDS,-10,"out of bounds")                                    \
  X(EDUPLICATE, -11, "duplicate sample for timestamp")                   \
  X(ETIMEOUT,   -12, "timeout")                                          \
  X(ECANCELED,  -13, "canceled")                                         \
  X(EEXIST,     -14, "already exists")                                   \
  X(EADDRINUSE, -15, "address already in use")                           \
  X(ECLOSED,    -16, "closed")

enum {
  PH_OK = 0,
#define PH__ERR_ENUM(name, code, msg) PH_##name = (code),
  PH_ERRNO_MAP(PH__ERR_ENUM)
#undef PH__ERR_ENUM
};

/* Generic message for a code ("unknown error" for codes not in the table). */
const char *ph_strerror(int code);
/* The code's name without prefix, e.g. "ECORRUPT". */
const char *ph_errname(int code);

/* Formats into err (if err != NULL and errlen > 0) and returns code, so a
 * failing function can `return ph_err(err, errlen, PH_EPARSE, "...", ...)`. */
int ph_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
