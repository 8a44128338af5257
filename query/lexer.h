/*
 * lexer.h - PromQL tokens, private to query/ (see lexer.c).
 */
#ifndef PH_QUERY_LEXER_H
#define PH_QUERY_LEXER_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  PQT_EOF,
  PQT_ERROR,
  PQT_COMMENT,
  PQT_IDENTIFIER,
  PQT_METRIC_IDENTIFIER, /* identifier with a colon */
  PQT_NUMBER,
  PQT_DURATION,
  PQT_STRING,
  PQT_LEFT_PAREN,
  PQT_RIGHT_PAREN,
  PQT_LEFT_BRACE,
  PQT_RIGHT_BRACE,
  PQT_LEFT_BRACKET,
  PQT_RIGHT_BRACKET,
  PQT_COMMA,
  PQT_EQL, /* = */
  PQT_COLON,
  PQT_DOUBLE_COLON,
  /* Operators. */
  PQT_OPS_START,
  PQT_ADD,
  PQT_DIV,
  PQT_EQLC,
  PQT_EQL_REGEX,
  PQT_GTE,
  PQT_GTR,
  PQT_LAND,
  PQT_LOR,
  PQT_LSS,
  PQT_LTE,
  PQT_LUNLESS,
  PQT_MOD,
  PQT_MUL,
  PQT_NEQ,
  PQT_NEQ_REGEX,
  PQT_POW,
  PQT_SUB,
  PQT_AT,
  PQT_ATAN2,
  PQT_OPS_END,
  /* Aggregators. */
  PQT_AGGS_START,
  PQT_AVG,
  PQT_BOTTOMK,
  PQT_COUNT,
  PQT_COUNT_VALUES,
  PQT_GROUP,
  PQT_MAX,
  PQT_MIN,
  PQT_QUANTILE,
  PQT_STDDEV,
  PQT_STDVAR,
  PQT_SUM,
  PQT_TOPK,
  PQT_LIMITK,
  PQT_LIMIT_RATIO,
  PQT_AGGS_END,
  /* Keywords. */
  PQT_KEYWORDS_START,
  PQT_BOOL,
  PQT_BY,
  PQT_GROUP_LEFT,
  PQT_GROUP_RIGHT,
  PQT_IGNORING,
  PQT_OFFSET,
  PQT_SMOOTHED,
  PQT_ANCHORED,
  PQT_ON,
  PQT_WITHOUT,
  PQT_FILL,
  PQT_FILL_LEFT,
  PQT_FILL_RIGHT,
  PQT_KEYWORDS_END,
  /* Preprocessors. */
  PQT_START,
  PQT_END,
  PQT_STEP,
  PQT_RANGE,
} pq_tok_type_t;

typedef struct pq_token {
  pq_tok_type_t type;
  uint32_t pos; /* byte offset of the token */
  uint32_t len; /* bytes of token text (input + pos) */
  const char *err; /* PQT_ERROR: message, valid until the next token */
} pq_token_t;

typedef struct pq_lexer {
  const char *in;
  size_t len;
  size_t pos, start;
  int state;
  int paren_depth;
  bool brace_open, bracket_open, got_colon, got_duration;
  char quote; /* quote character of the string being read */
  bool done;  /* an EOF or error was emitted */
  char errbuf[256];
} pq_lexer_t;

void pq_lexer_init(pq_lexer_t *l, const char *in, size_t len);
void pq_lexer_next(pq_lexer_t *l, pq_token_t *t);

/* Prometheus's item description for "unexpected ..." messages:
 * "end of input", "<op:+>", "<by>", "<aggr:sum>", "\"(\"",
 * "identifier \"foo\"", "number \"1\"", "string \"\\\"abc\\\"\"". */
void pq_token_desc(strbuf_t *b, const char *in, const pq_token_t *t);

bool pq_tok_is_aggregator(pq_tok_type_t t);
bool pq_tok_is_keyword(pq_tok_type_t t);
bool pq_tok_is_operator(pq_tok_type_t t);

#endif
