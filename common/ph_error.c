/*
 * ph_error.c - names and messages for the PH_E* table in ph_error.h.
 */
#include "ph_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ph_strerror(int code) {
  switch (code) {
  case PH_OK: return "success";
#define PH__ERR_MSG(name, c, msg) case c: return msg;
  PH_ERRNO_MAP(PH__ERR_MSG)
#undef PH__ERR_MSG
  default: return "unknown error";
  }
}

const char *ph_errname(int code) {
  switch (code) {
  case PH_OK: return "OK";
#define PH__ERR_NAME(name, c, msg) case c: return #name;
  PH_ERRNO_MAP(PH__ERR_NAME)
#undef PH__ERR_NAME
  default: return "EUNKNOWN";
  }
}

int ph_err(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}
