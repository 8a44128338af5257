/*
 * functions.c - the PromQL function table and the names of types and
 * operators.
 *
 * One row per function: argument types, how many optional trailing
 * arguments it takes (variadic), result type, and whether Prometheus
 * treats it as experimental (rejected with 'function "x" is not enabled'
 * unless promql_parse_opts_t.experimental_functions is set).  The stable
 * set is Prometheus v3.14's (first_over_time included); the experimental
 * rows are those the shared conformance scripts mention, so they parse with
 * the option on.  The evaluator dispatches on the name.
 */
#include "ast.h"

#include <string.h>

#define S PROMQL_VT_SCALAR
#define V PROMQL_VT_VECTOR
#define M PROMQL_VT_MATRIX
#define T PROMQL_VT_STRING

/* name, {args}, nargs, variadic, return, experimental; sorted by name. */
const promql_func_t promql__funcs[] = {
    {"abs", {V}, 1, 0, V, false},
    {"absent", {V}, 1, 0, V, false},
    {"absent_over_time", {M}, 1, 0, V, false},
    {"acos", {V}, 1, 0, V, false},
    {"acosh", {V}, 1, 0, V, false},
    {"asin", {V}, 1, 0, V, false},
    {"asinh", {V}, 1, 0, V, false},
    {"atan", {V}, 1, 0, V, false},
    {"atanh", {V}, 1, 0, V, false},
    {"avg_over_time", {M}, 1, 0, V, false},
    {"ceil", {V}, 1, 0, V, false},
    {"changes", {M}, 1, 0, V, false},
    {"clamp", {V, S, S}, 3, 0, V, false},
    {"clamp_max", {V, S}, 2, 0, V, false},
    {"clamp_min", {V, S}, 2, 0, V, false},
    {"cos", {V}, 1, 0, V, false},
    {"cosh", {V}, 1, 0, V, false},
    {"count_over_time", {M}, 1, 0, V, false},
    {"day_of_month", {V}, 1, 1, V, false},
    {"day_of_week", {V}, 1, 1, V, false},
    {"day_of_year", {V}, 1, 1, V, false},
    {"days_in_month", {V}, 1, 1, V, false},
    {"deg", {V}, 1, 0, V, false},
    {"delta", {M}, 1, 0, V, false},
    {"deriv", {M}, 1, 0, V, false},
    {"double_exponential_smoothing", {M, S, S}, 3, 0, V, true},
    {"end", {S}, 0, 0, S, true},
    {"exp", {V}, 1, 0, V, false},
    {"first_over_time", {M}, 1, 0, V, false},
    {"floor", {V}, 1, 0, V, false},
    {"histogram_avg", {V}, 1, 0, V, false},
    {"histogram_count", {V}, 1, 0, V, false},
    {"histogram_fraction", {S, S, V}, 3, 0, V, false},
    {"histogram_quantile", {S, V}, 2, 0, V, false},
    {"histogram_quantiles", {V, T, S, S}, 4, 9, V, true},
    {"histogram_stddev", {V}, 1, 0, V, false},
    {"histogram_stdvar", {V}, 1, 0, V, false},
    {"histogram_sum", {V}, 1, 0, V, false},
    {"hour", {V}, 1, 1, V, false},
    {"idelta", {M}, 1, 0, V, false},
    {"increase", {M}, 1, 0, V, false},
    {"info", {V, V}, 2, 1, V, true},
    {"irate", {M}, 1, 0, V, false},
    {"label_join", {V, T, T, T}, 4, -1, V, false},
    {"label_replace", {V, T, T, T, T}, 5, 0, V, false},
    {"last_over_time", {M}, 1, 0, V, false},
    {"ln", {V}, 1, 0, V, false},
    {"log10", {V}, 1, 0, V, false},
    {"log2", {V}, 1, 0, V, false},
    {"mad_over_time", {M}, 1, 0, V, true},
    {"max_of", {S, S}, 2, 0, S, true},
    {"max_over_time", {M}, 1, 0, V, false},
    {"min_of", {S, S}, 2, 0, S, true},
    {"min_over_time", {M}, 1, 0, V, false},
    {"minute", {V}, 1, 1, V, false},
    {"month", {V}, 1, 1, V, false},
    {"pi", {S}, 0, 0, S, false},
    {"predict_linear", {M, S}, 2, 0, V, false},
    {"present_over_time", {M}, 1, 0, V, false},
    {"quantile_over_time", {S, M}, 2, 0, V, false},
    {"rad", {V}, 1, 0, V, false},
    {"range", {S}, 0, 0, S, true},
    {"rate", {M}, 1, 0, V, false},
    {"resets", {M}, 1, 0, V, false},
    {"round", {V, S}, 2, 1, V, false},
    {"scalar", {V}, 1, 0, S, false},
    {"sgn", {V}, 1, 0, V, false},
    {"sin", {V}, 1, 0, V, false},
    {"sinh", {V}, 1, 0, V, false},
    {"sort", {V}, 1, 0, V, false},
    {"sort_by_label", {V, T}, 2, -1, V, true},
    {"sort_by_label_desc", {V, T}, 2, -1, V, true},
    {"sort_desc", {V}, 1, 0, V, false},
    {"sqrt", {V}, 1, 0, V, false},
    {"start", {S}, 0, 0, S, true},
    {"stddev_over_time", {M}, 1, 0, V, false},
    {"stdvar_over_time", {M}, 1, 0, V, false},
    {"step", {S}, 0, 0, S, true},
    {"sum_over_time", {M}, 1, 0, V, false},
    {"tan", {V}, 1, 0, V, false},
    {"tanh", {V}, 1, 0, V, false},
    {"time", {S}, 0, 0, S, false},
    {"timestamp", {V}, 1, 0, V, false},
    {"ts_of_first_over_time", {M}, 1, 0, V, true},
    {"ts_of_last_over_time", {M}, 1, 0, V, true},
    {"ts_of_max_over_time", {M}, 1, 0, V, true},
    {"ts_of_min_over_time", {M}, 1, 0, V, true},
    {"vector", {S}, 1, 0, V, false},
    {"year", {V}, 1, 1, V, false},
};
const size_t promql__nfuncs = sizeof(promql__funcs) / sizeof(promql__funcs[0]);

#undef S
#undef V
#undef M
#undef T

const promql_func_t *promql_func_lookup(const char *name, size_t len) {
  size_t lo = 0, hi = promql__nfuncs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *f = promql__funcs[mid].name;
    size_t flen = strlen(f);
    int c = memcmp(f, name, flen < len ? flen : len);
    if (c == 0) c = flen < len ? -1 : (flen > len ? 1 : 0);
    if (c == 0) return &promql__funcs[mid];
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return NULL;
}

const char *promql_vtype_name(promql_vtype_t t) {
  switch (t) {
    case PROMQL_VT_SCALAR: return "scalar";
    case PROMQL_VT_VECTOR: return "vector";
    case PROMQL_VT_MATRIX: return "matrix";
    case PROMQL_VT_STRING: return "string";
    default: return "none";
  }
}

const char *promql_vtype_doc(promql_vtype_t t) {
  switch (t) {
    case PROMQL_VT_SCALAR: return "scalar";
    case PROMQL_VT_VECTOR: return "instant vector";
    case PROMQL_VT_MATRIX: return "range vector";
    case PROMQL_VT_STRING: return "string";
    default: return "none";
  }
}

const char *promql_binop_str(promql_binop_t op) {
  static const char *const s[] = {
      [PROMQL_OP_OR] = "or",     [PROMQL_OP_AND] = "and",
      [PROMQL_OP_UNLESS] = "unless", [PROMQL_OP_EQLC] = "==",
      [PROMQL_OP_NEQ] = "!=",    [PROMQL_OP_LTE] = "<=",
      [PROMQL_OP_LSS] = "<",     [PROMQL_OP_GTE] = ">=",
      [PROMQL_OP_GTR] = ">",     [PROMQL_OP_ADD] = "+",
      [PROMQL_OP_SUB] = "-",     [PROMQL_OP_MUL] = "*",
      [PROMQL_OP_DIV] = "/",     [PROMQL_OP_MOD] = "%",
      [PROMQL_OP_ATAN2] = "atan2", [PROMQL_OP_POW] = "^",
  };
  return s[op];
}

const char *promql_aggop_str(promql_aggop_t op) {
  static const char *const s[] = {
      [PROMQL_AGG_SUM] = "sum",         [PROMQL_AGG_AVG] = "avg",
      [PROMQL_AGG_COUNT] = "count",     [PROMQL_AGG_MIN] = "min",
      [PROMQL_AGG_MAX] = "max",         [PROMQL_AGG_GROUP] = "group",
      [PROMQL_AGG_STDDEV] = "stddev",   [PROMQL_AGG_STDVAR] = "stdvar",
      [PROMQL_AGG_TOPK] = "topk",       [PROMQL_AGG_BOTTOMK] = "bottomk",
      [PROMQL_AGG_QUANTILE] = "quantile",
      [PROMQL_AGG_COUNT_VALUES] = "count_values",
      [PROMQL_AGG_LIMITK] = "limitk",
      [PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
  };
  return s[op];
}

bool promql_binop_is_comparison(promql_binop_t op) {
  return op >= PROMQL_OP_EQLC && op <= PROMQL_OP_GTR;
}

bool promql_binop_is_set(promql_binop_t op) {
  return op == PROMQL_OP_OR || op == PROMQL_OP_AND || op == PROMQL_OP_UNLESS;
}

bool promql_aggop_has_param(promql_aggop_t op) {
  return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK ||
         op == PROMQL_AGG_QUANTILE || op == PROMQL_AGG_COUNT_VALUES ||
         op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO;
}

promql_vtype_t promql_node_type(const promql_node_t *n) {
  switch (n->kind) {
    case PROMQL_NODE_NUMBER: return PROMQL_VT_SCALAR;
    case PROMQL_NODE_STRING: return PROMQL_VT_STRING;
    case PROMQL_NODE_VECTOR_SEL: return PROMQL_VT_VECTOR;
    case PROMQL_NODE_MATRIX_SEL: return PROMQL_VT_MATRIX;
    case PROMQL_NODE_SUBQUERY: return PROMQL_VT_MATRIX;
    case PROMQL_NODE_CALL: return n->u.call.func->ret;
    case PROMQL_NODE_AGGREGATE: return PROMQL_VT_VECTOR;
    case PROMQL_NODE_BINARY:
      if (promql_node_type(n->u.bin.lhs) == PROMQL_VT_SCALAR &&
          promql_node_type(n->u.bin.rhs) == PROMQL_VT_SCALAR) {
        return PROMQL_VT_SCALAR;
      }
      return PROMQL_VT_VECTOR;
    case PROMQL_NODE_UNARY: return promql_node_type(n->u.unary.expr);
    case PROMQL_NODE_PAREN: return promql_node_type(n->u.paren.expr);
  }
  return PROMQL_VT_NONE;
}
