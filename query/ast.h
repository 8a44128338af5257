/*
 * ast.h - the PromQL syntax tree, private to query/ (parser, printer,
 * evaluator).
 *
 * One promql_node_t per syntactic construct, tagged by kind, mirroring
 * Prometheus's AST so that an evaluator can follow Prometheus's engine:
 *
 *   NUMBER      float literal (also a duration literal used as a number:
 *               `1m` is 60, flagged so it prints back as "1m")
 *   STRING      string literal, unquoted (may hold any bytes, NUL included)
 *   VECTOR_SEL  name + matchers + offset + @; the matchers include the
 *               __name__="name" matcher (last) when the name was written
 *               outside the braces, so they go to tsdb_select() as they are
 *   MATRIX_SEL  a VECTOR_SEL child (which carries offset and @) + range
 *   SUBQUERY    expr + range + step (0: the engine's default) + offset + @
 *   CALL        function (from the table below) + arguments
 *   AGGREGATE   op, by/without labels, optional parameter, expression
 *   BINARY      op, bool, vector matching (card, on/ignoring, include)
 *   UNARY       + or - applied to a non-literal (literals are folded)
 *   PAREN       parenthesised expression
 *
 * Every node has its byte range in the query text (start inclusive, end
 * exclusive), as Prometheus's PositionRange.  Times and durations are int64
 * milliseconds.  All nodes and strings live in the owning expression's
 * arena and are valid until promql_expr_free().
 */
#ifndef PH_QUERY_AST_H
#define PH_QUERY_AST_H

#include "promql.h"
#include "tsdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  PROMQL_VT_NONE = 0,
  PROMQL_VT_SCALAR,
  PROMQL_VT_VECTOR,
  PROMQL_VT_MATRIX,
  PROMQL_VT_STRING,
} promql_vtype_t;

typedef enum {
  PROMQL_NODE_NUMBER,
  PROMQL_NODE_STRING,
  PROMQL_NODE_VECTOR_SEL,
  PROMQL_NODE_MATRIX_SEL,
  PROMQL_NODE_SUBQUERY,
  PROMQL_NODE_CALL,
  PROMQL_NODE_AGGREGATE,
  PROMQL_NODE_BINARY,
  PROMQL_NODE_UNARY,
  PROMQL_NODE_PAREN,
} promql_node_kind_t;

/* Binary operators, lowest precedence first (see promql_binop_prec). */
typedef enum {
  PROMQL_OP_OR,
  PROMQL_OP_AND,
  PROMQL_OP_UNLESS,
  PROMQL_OP_EQLC, /* == */
  PROMQL_OP_NEQ,  /* != */
  PROMQL_OP_LTE,
  PROMQL_OP_LSS,
  PROMQL_OP_GTE,
  PROMQL_OP_GTR,
  PROMQL_OP_ADD,
  PROMQL_OP_SUB,
  PROMQL_OP_MUL,
  PROMQL_OP_DIV,
  PROMQL_OP_MOD,
  PROMQL_OP_ATAN2,
  PROMQL_OP_POW,
} promql_binop_t;

typedef enum {
  PROMQL_AGG_SUM,
  PROMQL_AGG_AVG,
  PROMQL_AGG_COUNT,
  PROMQL_AGG_MIN,
  PROMQL_AGG_MAX,
  PROMQL_AGG_GROUP,
  PROMQL_AGG_STDDEV,
  PROMQL_AGG_STDVAR,
  PROMQL_AGG_TOPK,         /* param: scalar */
  PROMQL_AGG_BOTTOMK,      /* param: scalar */
  PROMQL_AGG_QUANTILE,     /* param: scalar */
  PROMQL_AGG_COUNT_VALUES, /* param: string */
  PROMQL_AGG_LIMITK,       /* experimental; param: scalar */
  PROMQL_AGG_LIMIT_RATIO,  /* experimental; param: scalar */
} promql_aggop_t;

typedef enum {
  PROMQL_CARD_ONE_TO_ONE,
  PROMQL_CARD_MANY_TO_ONE,  /* group_left */
  PROMQL_CARD_ONE_TO_MANY,  /* group_right */
  PROMQL_CARD_MANY_TO_MANY, /* set operators */
} promql_card_t;

typedef enum {
  PROMQL_AT_NONE,
  PROMQL_AT_TIMESTAMP, /* @ <at_ms> */
  PROMQL_AT_START,     /* @ start() */
  PROMQL_AT_END,       /* @ end() */
} promql_at_t;

typedef struct promql_pos {
  uint32_t start, end; /* byte offsets; end exclusive */
} promql_pos_t;

/* A label matcher; name and value are NUL-terminated (value_len counts the
 * bytes of a value that contains NULs from escapes). */
typedef struct promql_matcher {
  tsdb_match_type_t type;
  const char *name;
  const char *value;
  size_t value_len;
  bool matches_empty; /* whether it matches a missing (empty) label */
} promql_matcher_t;

typedef struct promql_func {
  const char *name;
  promql_vtype_t args[5];
  int nargs;    /* declared argument types */
  int variadic; /* 0: exactly nargs; n > 0: up to n more optional args of the
                   last type; -1: any number more (label_join) */
  promql_vtype_t ret;
  bool experimental;
} promql_func_t;

typedef struct promql_node promql_node_t;

struct promql_node {
  promql_node_kind_t kind;
  promql_pos_t pos;
  uint32_t height; /* 1 + the tallest child's (parser bookkeeping) */
  union {
    struct {
      double val;
      bool duration; /* written as a duration literal: prints as one */
    } number;
    struct {
      const char *val; /* NUL-terminated; len bytes */
      size_t len;
    } string;
    struct {
      const char *name; /* NULL when written only inside braces */
      promql_matcher_t *matchers;
      size_t nmatchers;
      int64_t offset_ms; /* positive looks back */
      promql_at_t at;
      int64_t at_ms;
    } vs;
    struct {
      promql_node_t *vs; /* VECTOR_SEL, carrying offset and @ */
      int64_t range_ms;
    } ms;
    struct {
      promql_node_t *expr;
      int64_t range_ms, step_ms; /* step_ms 0: not given */
      int64_t offset_ms;
      promql_at_t at;
      int64_t at_ms;
    } sq;
    struct {
      const promql_func_t *func;
      promql_node_t **args;
      size_t nargs;
    } call;
    struct {
      promql_aggop_t op;
      promql_node_t *expr;
      promql_node_t *param; /* NULL unless the op takes one */
      const char **grouping;
      size_t ngrouping;
      bool without;
    } agg;
    struct {
      promql_binop_t op;
      promql_node_t *lhs, *rhs;
      bool return_bool;
      /* Vector matching: only meaningful when both sides are vectors
       * (has_matching is then true). */
      bool has_matching;
      promql_card_t card;
      bool on; /* on(...) rather than ignoring(...) */
      const char **matching;
      size_t nmatching;
      const char **include; /* group_left/group_right labels */
      size_t ninclude;
    } bin;
    struct {
      bool neg; /* '-' (else '+') */
      promql_node_t *expr;
    } unary;
    struct {
      promql_node_t *expr;
    } paren;
  } u;
};

/* The root of a parsed expression (query/promql.h). */
const promql_node_t *promql_expr_root(const promql_expr_t *e);

/* Static type of a node, as Prometheus's Expr.Type(). */
promql_vtype_t promql_node_type(const promql_node_t *n);
/* "scalar", "vector", "matrix", "string", "none". */
const char *promql_vtype_name(promql_vtype_t t);
/* "scalar", "instant vector", "range vector", "string", "none". */
const char *promql_vtype_doc(promql_vtype_t t);

const char *promql_binop_str(promql_binop_t op); /* "+", "and", "atan2" */
const char *promql_aggop_str(promql_aggop_t op); /* "sum", "count_values" */
bool promql_binop_is_comparison(promql_binop_t op);
bool promql_binop_is_set(promql_binop_t op);
bool promql_aggop_has_param(promql_aggop_t op);

/* Function table: every stable function and the experimental ones. */
const promql_func_t *promql_func_lookup(const char *name, size_t len);
extern const promql_func_t promql__funcs[];
extern const size_t promql__nfuncs;

/* Printer helpers shared with the parser's error messages. */
void promql__quote(strbuf_t *b, const char *s, size_t len); /* strconv.Quote */
void promql__quote_rune(strbuf_t *b, int32_t r);  /* strconv.QuoteRune */
void promql__format_float(strbuf_t *b, double v); /* FormatFloat(v,'f',-1) */
void promql__format_duration(strbuf_t *b, int64_t ms); /* model.Duration */
void promql__node_string(strbuf_t *b, const promql_node_t *n);
/* promql_format_pretty with another line width than 100 (for tests). */
void promql__format_pretty_width(const promql_expr_t *e, strbuf_t *out,
                                 size_t width);

#endif
