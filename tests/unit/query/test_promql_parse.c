/*
 * test_promql_parse.c - the PromQL lexer, parser, type checks and printer.
 *
 * Table-driven: valid queries with the canonical text Prometheus's String()
 * gives for them, invalid queries with the exact error text Prometheus
 * reports (position included); then tree-shape checks (precedence, folded
 * literals, matchers, modifiers, positions), the pretty printer at a
 * narrow width, the function table, options, and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ast.h"
#include "ph_error.h"
#include "promql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *in;
  const char *out; /* NULL: same as in */
} valid_t;

static const valid_t valid_cases[] = {
    /* Numbers. */
    {"1", NULL},
    {"+Inf", NULL},
    {"-Inf", NULL},
    {"inF", "+Inf"},
    {"-inf", "-Inf"},
    {"NaN", NULL},
    {"nan", "NaN"},
    {".5", "0.5"},
    {"5.", "5"},
    {"123.4567", NULL},
    {"5e-3", "0.005"},
    {"5e3", "5000"},
    {"12.34e+6", "12340000"},
    {"-0.2e-6", "-0.0000002"},
    {"0xc", "12"},
    {"0x1F", "31"},
    {"0755", "493"},
    {"-0755", "-493"},
    {"08", "8"},
    {"1_000", "1000"},
    {"1_000.5", "1000.5"},
    {"1e21", "1000000000000000000000"},
    {"0.1", NULL},
    {"-0", NULL},
    {"9007199254740993", "9007199254740992"},
    {"1m", NULL},
    {"90s", "1m30s"},
    {"1h30m", NULL},
    {"-1m", NULL},
    {"1m + 1", NULL},
    /* Arithmetic and precedence (printed flat, as Prometheus does). */
    {"1 + 1", NULL},
    {"1 - -1", NULL},
    {"+1 + -2 * 1", "1 + -2 * 1"},
    {"1 + 2/(3*1)", "1 + 2 / (3 * 1)"},
    {"1 < bool 2 - 1 * 2", NULL},
    {"-1^2", "-1 ^ 2"},
    {"2 ^ 3 ^ 2", NULL},
    {"1 == bool 1", NULL},
    {"1 != bool 1", NULL},
    {"1 >= bool 1", NULL},
    {"1 atan2 2", NULL},
    {"1 % 0", NULL},
    {"((1) / (0))", NULL},
    /* Strings. */
    {"\"Foo\"", NULL},
    {"'single \\' quote'", "\"single ' quote\""},
    {"`raw \\n`", "\"raw \\\\n\""},
    {"\"\\x41\\u00e9\\U0001F600\\101\"", "\"Aé😀A\""},
    {"\"a\\xc5z\"", "\"a\\xc5z\""},
    {"\"tab\\there\"", NULL},
    {"\"\"", NULL},
    /* Selectors. */
    {"foo", NULL},
    {"min", NULL},
    {"sum", NULL},
    {"by", NULL},
    {"offset", NULL},
    {"foo:bar{a=\"bc\"}", NULL},
    {"foo{b=\"1\", a=\"2\"}", "foo{a=\"2\",b=\"1\"}"},
    {"foo{a=\"b\", foo!=\"bar\", test=~\"test\", bar!~\"baz\",}",
     "foo{a=\"b\",bar!~\"baz\",foo!=\"bar\",test=~\"test\"}"},
    {"{__name__=\"a\"}", NULL},
    {"{__name__=~\".+\"}", NULL},
    {"{\"foo\"}", "{__name__=\"foo\"}"},
    {"{\"some.metric\", \"label with space\"=\"v\"}",
     "{\"label with space\"=\"v\",__name__=\"some.metric\"}"},
    {"{'foo\\'bar', 'a\\\\dos\\\\path'='boo\\\\urns'}",
     "{\"a\\\\dos\\\\path\"=\"boo\\\\urns\",__name__=\"foo'bar\"}"},
    {"foo{NaN='bc'}", "foo{NaN=\"bc\"}"},
    {"foo{bar='}'}", "foo{bar=\"}\"}"},
    {"foo{by=\"x\", offset=\"y\"}", "foo{by=\"x\",offset=\"y\"}"},
    {"foo # a comment\n", "foo"},
    {"offset{step=\"1s\"}[5m]", NULL},
    {"foo{a=\"b\"} # c\n + # d\n bar", "foo{a=\"b\"} + bar"},
    /* Ranges, offsets, @. */
    {"test[5m]", NULL},
    {"test[1000ms]", "test[1s]"},
    {"test[1001ms]", "test[1s1ms]"},
    {"test[5]", "test[5s]"},
    {"test[4.18]", "test[4s180ms]"},
    {"test[90m]", "test[1h30m]"},
    {"test[14d]", "test[2w]"},
    {"test[365d]", "test[1y]"},
    {"test[5m] OFFSET 5m", "test[5m] offset 5m"},
    {"foo offset 5m", NULL},
    {"foo offset -7m", NULL},
    {"foo OFFSET 1h30m", "foo offset 1h30m"},
    {"foo offset 3600", "foo offset 1h"},
    {"foo offset 1m + 1m", NULL},
    {"foo @ 1603774568", "foo @ 1603774568.000"},
    {"foo @ -100", "foo @ -100.000"},
    {"foo @ .3", "foo @ 0.300"},
    {"foo @ 3.3335", "foo @ 3.334"},
    {"foo @ 0xA", "foo @ 10.000"},
    {"foo @ 1m", "foo @ 60.000"},
    {"foo @ start()", NULL},
    {"foo @ end()", NULL},
    {"foo offset 5m @ 10", "foo @ 10.000 offset 5m"},
    {"foo @ 10 offset 5m", "foo @ 10.000 offset 5m"},
    {"foo[5m] @ start() offset 1m", NULL},
    {"foo[5m] offset 1m @ end()", "foo[5m] @ end() offset 1m"},
    /* Subqueries. */
    {"foo[10m:6s]", NULL},
    {"foo[10m5s:1h6ms]", NULL},
    {"foo[10m:]", NULL},
    {"foo[ 10m : 1m ]", "foo[10m:1m]"},
    {"rate(foo[5m])[1h:]", NULL},
    {"min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] offset 4m)[4m:3s]", NULL},
    {"some_metric OFFSET 1m [10m:5s]", "some_metric offset 1m[10m:5s]"},
    {"some_metric @ 123 [10m:5s]", "some_metric @ 123.000[10m:5s]"},
    {"(foo + bar{nm=\"val\"})[5m:] offset 10m", NULL},
    {"sum(foo)[5m:] @ start()", NULL},
    /* Binary operators and vector matching. */
    {"foo * bar", NULL},
    {"foo == bool 1", NULL},
    {"foo + bar or bla and blub", NULL},
    {"foo and bar unless baz or qux", NULL},
    {"bar + on(foo) bla / on(baz, buz) group_right(test) blub",
     "bar + on (foo) bla / on (baz, buz) group_right (test) blub"},
    {"foo * on(test,blub) group_left bar",
     "foo * on (test, blub) group_left () bar"},
    {"foo and on() bar", "foo and on () bar"},
    {"foo and ignoring() bar", "foo and bar"},
    {"foo / ignoring(test,blub) group_left(blub) bar",
     "foo / ignoring (test, blub) group_left (blub) bar"},
    {"foo - ignoring(test) group_right(bar,foo) bar",
     "foo - ignoring (test) group_right (bar, foo) bar"},
    {"a - on(b) group_left() (c)", "a - on (b) group_left () (c)"},
    {"foo > bool on(x) bar", "foo > bool on (x) bar"},
    {"1 + on() 2", "1 + 2"},
    {"foo + on(\"a.b\") bar", "foo + on (\"a.b\") bar"},
    {"foo * sum", NULL},
    {"a + sum", NULL},
    /* Aggregations. */
    {"sum by (foo)(some_metric)", "sum by (foo) (some_metric)"},
    {"sum (some_metric) without (foo)", "sum without (foo) (some_metric)"},
    {"sum by ()(some_metric)", "sum(some_metric)"},
    {"sum without () (x)", NULL},
    {"sum by (foo,bar,)(some_metric)", "sum by (foo, bar) (some_metric)"},
    {"SUM(x) BY (y)", "sum by (y) (x)"},
    {"stddev(some_metric)", NULL},
    {"topk(5, some_metric)", NULL},
    {"count_values(\"value\", some_metric)", NULL},
    {"quantile(0.9, x)", NULL},
    {"sum without(and, by, avg, count, alert, annotations)(some_metric)",
     "sum without (and, by, avg, count, alert, annotations) (some_metric)"},
    {"sum by (\"foo bar\")({\"some.metric\"})",
     "sum by (\"foo bar\") ({__name__=\"some.metric\"})"},
    {"sum(sum)", NULL},
    {"sum by (le) (rate(x_bucket[5m]))", NULL},
    {"count_values(((\"version\")), version)", NULL},
    /* Functions. */
    {"time()", NULL},
    {"rate(some_metric[5m])", NULL},
    {"round(some_metric)", NULL},
    {"round(some_metric, 5)", NULL},
    {"label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")", NULL},
    {"histogram_quantile(0.9, rate(x[5m]))", NULL},
    {"histogram_fraction(0, 0.2, rate(x_bucket[5m]))", NULL},
    {"day_of_week()", NULL},
    {"vector(1)", NULL},
    {"scalar(x) + 1", NULL},
    {"pi()", NULL},
    {"first_over_time(x[1m])", NULL},
    {"absent(nonexistent{job=\"myjob\"})", NULL},
    {"-some_metric", NULL},
    {"+some_metric", NULL},
    {"-(1)", NULL},
    {"- -1", "1"},
    {"-foo offset 5m", NULL},
};

typedef struct {
  const char *in;
  const char *err;
} invalid_t;

static const invalid_t invalid_cases[] = {
    {"", "unknown position: parse error: no expression found in input"},
    {"   ", "1:1: parse error: no expression found in input"},
    {"# just a comment\n\n", "1:1: parse error: no expression found in input"},
    {"1+", "1:3: parse error: unexpected end of input"},
    {".", "1:1: parse error: unexpected character: '.'"},
    {"2.5.", "1:1: parse error: bad number or duration syntax: \"2.5.\""},
    {"100..4", "1:1: parse error: bad number or duration syntax: \"100..\""},
    {"0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\""},
    {"1 /", "1:4: parse error: unexpected end of input"},
    {"*1", "1:1: parse error: unexpected <op:*>"},
    {"(1))", "1:5: parse error: unexpected right parenthesis ')'"},
    {"((1)", "1:5: parse error: unclosed left parenthesis"},
    {"(", "1:2: parse error: unclosed left parenthesis"},
    {"1e400",
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
     "\"1e400\": value out of range"},
    {"1 and 1",
     "1:1: parse error: set operator \"and\" not allowed in binary scalar "
     "expression"},
    {"1 or 1",
     "1:1: parse error: set operator \"or\" not allowed in binary scalar "
     "expression"},
    {"1 == 1",
     "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"},
    {"1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"},
    {"-\"string\"",
     "1:1: parse error: unary expression only allowed on expressions of type "
     "scalar or instant vector, got \"string\""},
    {"-test[5m]",
     "1:1: parse error: unary expression only allowed on expressions of type "
     "scalar or instant vector, got \"range vector\""},
    {"@@", "1:1: parse error: unexpected <op:@>"},
    {"1 offset 1d",
     "1:1: parse error: offset modifier must be preceded by an instant vector "
     "selector or range vector selector or a subquery"},
    {"foo offset 1s offset 2s",
     "1:1: parse error: offset may not be set multiple times"},
    {"a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"},
    {"foo and 1",
     "1:1: parse error: set operator \"and\" not allowed in binary scalar "
     "expression"},
    {"1 unless foo",
     "1:1: parse error: set operator \"unless\" not allowed in binary scalar "
     "expression"},
    {"1 or on(bar) foo",
     "1:1: parse error: vector matching only allowed between instant "
     "vectors"},
    {"foo == on(bar) 10",
     "1:1: parse error: vector matching only allowed between instant "
     "vectors"},
    {"foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"},
    {"foo and on(bar) group_left(baz) bar",
     "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"foo unless on(bar) group_right(baz) bar",
     "1:1: parse error: no grouping allowed for \"unless\" operation"},
    {"a + on(instance) group_left(job,instance) b",
     "1:3: parse error: label \"instance\" must not occur in ON and GROUP "
     "clause at once"},
    {"foo + bool bar",
     "1:5: parse error: bool modifier can only be used on comparison "
     "operators"},
    {"foo and bool 10",
     "1:5: parse error: bool modifier can only be used on comparison "
     "operators"},
    {"foo[5m] + bar",
     "1:1: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"foo + bar[5m]",
     "1:7: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"\"a\" + 1",
     "1:1: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    /* Selectors. */
    {"{", "1:2: parse error: unexpected end of input inside braces"},
    {"}", "1:1: parse error: unexpected character: '}'"},
    {"some{", "1:6: parse error: unexpected end of input inside braces"},
    {"some}", "1:5: parse error: unexpected character: '}'"},
    {"some_metric{a=b}",
     "1:15: parse error: unexpected identifier \"b\" in label matching, "
     "expected string"},
    {"some_metric{a:b=\"b\"}",
     "1:14: parse error: unexpected character inside braces: ':'"},
    {"foo{a*\"b\"}", "1:6: parse error: unexpected character inside braces: '*'"},
    {"foo{a>=\"b\"}",
     "1:6: parse error: unexpected character inside braces: '>'"},
    {"some_metric{a=\"\xff\"}", "1:15: parse error: invalid UTF-8 rune"},
    {"foo{gibberish}",
     "1:14: parse error: unexpected \"}\" in label matching, expected label "
     "matching operator"},
    {"foo{1}", "1:5: parse error: unexpected character inside braces: '1'"},
    {"{}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{x=\"\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{x=~\".*\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{x!~\".+\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{x!=\"a\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"foo{__name__=\"bar\"}",
     "1:1: parse error: metric name must not be set twice: \"foo\" or "
     "\"bar\""},
    {"foo{\"bar\"}",
     "1:1: parse error: metric name must not be set twice: \"foo\" or "
     "\"bar\""},
    {"foo{__name__= =}",
     "1:15: parse error: unexpected \"=\" in label matching, expected string"},
    {"foo{,}",
     "1:5: parse error: unexpected \",\" in label matching, expected "
     "identifier or \"}\""},
    {"foo{__name__ == \"bar\"}",
     "1:15: parse error: unexpected \"=\" in label matching, expected string"},
    {"foo{__name__=\"bar\" lol}",
     "1:20: parse error: unexpected identifier \"lol\" in label matching, "
     "expected \",\" or \"}\""},
    {"foo{\"a\"=}",
     "1:9: parse error: unexpected \"}\" in label matching, expected string"},
    {"foo{a=~\"(\"}",
     NULL /* regex error: checked for prefix below */},
    {"foo{a=\"b\"}{c=\"d\"}", "1:11: parse error: unexpected \"{\""},
    /* Ranges, subqueries, modifiers. */
    {"foo[5mm]", "1:5: parse error: bad number or duration syntax: \"5mm\""},
    {"foo[5m1]", "1:5: parse error: bad number or duration syntax: \"5m1\""},
    {"foo[5m:1m1]", "1:8: parse error: bad number or duration syntax: \"1m1\""},
    {"foo[5y1hs]",
     "1:5: parse error: unknown unit \"hs\" in duration \"5y1hs\""},
    {"foo[5m1h]", "1:5: parse error: not a valid duration string: \"5m1h\""},
    {"foo[5m1m]", "1:5: parse error: not a valid duration string: \"5m1m\""},
    {"foo[1.5m]",
     "1:5: parse error: unknown unit \".\" in duration \"1.5m\""},
    {"foo > on(x) bool bar", "1:13: parse error: unexpected <bool>"},
    {"foo[0m]", "1:5: parse error: duration must be greater than 0"},
    {"foo[0]", "1:5: parse error: duration must be greater than 0"},
    {"foo[-1]", "1:5: parse error: duration must be greater than 0"},
    {"foo[5m:0s]", "1:8: parse error: duration must be greater than 0"},
    {"foo[\"5m\"]",
     "1:5: parse error: unexpected character in duration expression: '\"'"},
    {"foo[]",
     "1:5: parse error: unexpected \"]\" in subquery or range selector, "
     "expected number, duration, step(), or range()"},
    {"foo[5m x]", "1:8: parse error: unexpected character: 'x', expected ':'"},
    {"foo[5m", "1:7: parse error: unclosed left bracket"},
    {"foo[:5m]",
     "1:6: parse error: unexpected colon before duration in duration "
     "expression"},
    {"foo[5m,1m]",
     "1:7: parse error: unexpected \",\" in subquery or range, expected \":\" "
     "or \"]\""},
    {"foo[5m:1m,]",
     "1:10: parse error: unexpected \",\" in subquery selector, expected "
     "\"]\""},
    {"foo[5m+1m]",
     "1:5: parse error: experimental duration expression is not enabled"},
    {"foo[5m] [1m]", "1:9: parse error: ranges only allowed for vector selectors"},
    {"foo{bar=\"baz\"}[",
     "1:16: parse error: unexpected end of input in duration expression"},
    {"some_metric[5m] OFFSET 1mm",
     "1:24: parse error: bad number or duration syntax: \"1mm\""},
    {"some_metric[5m] OFFSET",
     "1:23: parse error: unexpected end of input in offset, expected number, "
     "duration, step(), or range()"},
    {"foo offset bar",
     "1:12: parse error: unexpected identifier \"bar\" in offset, expected "
     "number, duration, step(), or range()"},
    {"some_metric OFFSET 1m[5m]",
     "1:22: parse error: no offset modifiers allowed before range"},
    {"some_metric[5m] @",
     "1:18: parse error: unexpected end of input in @, expected timestamp"},
    {"foo @ bar",
     "1:7: parse error: unexpected identifier \"bar\" in @, expected "
     "timestamp"},
    {"some_metric @ 1234 [5m]",
     "1:20: parse error: no @ modifiers allowed before range"},
    {"some_metric @ start() [5m]",
     "1:23: parse error: no @ modifiers allowed before range"},
    {"foo @ 1 @ 2",
     "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"(foo + bar)[5m]",
     "1:12: parse error: ranges only allowed for vector selectors"},
    {"foo @ +Inf",
     "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
    {"foo @ -Inf",
     "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
    {"foo @ NaN",
     "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
    {"rate(some_metric[5m]) @ 1234",
     "1:1: parse error: @ modifier must be preceded by an instant vector "
     "selector or range vector selector or a subquery"},
    {"sum(x)[5m]",
     "1:7: parse error: ranges only allowed for vector selectors"},
    {"x[5m][10m:1m]",
     "1:1: parse error: subquery is only allowed on instant vector, got "
     "matrix instead"},
    {"foo anchored",
     "1:1: parse error: anchored modifier is experimental and not enabled"},
    /* Aggregations. */
    {"sum without(==)(some_metric)",
     "1:13: parse error: unexpected <op:==> in grouping opts, expected "
     "label"},
    {"sum without(,)(some_metric)",
     "1:13: parse error: unexpected \",\" in grouping opts, expected label"},
    {"sum without(foo,,)(some_metric)",
     "1:17: parse error: unexpected \",\" in grouping opts, expected label"},
    {"sum by (a b) (x)",
     "1:11: parse error: unexpected identifier \"b\" in grouping opts, "
     "expected \",\" or \")\""},
    {"sum by (\"\") (x)",
     "1:9: parse error: invalid label name for grouping: \"\""},
    {"sum some_metric by (test)",
     "1:5: parse error: unexpected identifier \"some_metric\""},
    {"sum (some_metric) by test",
     "1:22: parse error: unexpected identifier \"test\" in grouping opts, "
     "expected \"(\""},
    {"sum by (a) x",
     "1:12: parse error: unexpected identifier \"x\" in aggregation"},
    {"sum () by (test)",
     "1:1: parse error: no arguments for aggregate expression provided"},
    {"MIN keep_common (some_metric)",
     "1:5: parse error: unexpected identifier \"keep_common\""},
    {"sum (some_metric) without (test) by (test)",
     "1:34: parse error: unexpected <by>"},
    {"topk(some_metric)",
     "1:1: parse error: wrong number of arguments for aggregate expression "
     "provided, expected 2, got 1"},
    {"sum(a, b)",
     "1:1: parse error: wrong number of arguments for aggregate expression "
     "provided, expected 1, got 2"},
    {"topk(some_metric,)",
     "1:17: parse error: trailing commas not allowed in function call args"},
    {"topk(some_metric, other_metric)",
     "1:6: parse error: expected type scalar in aggregation parameter, got "
     "instant vector"},
    {"count_values(5, other_metric)",
     "1:14: parse error: expected type string in aggregation parameter, got "
     "scalar"},
    {"sum(1)",
     "1:5: parse error: expected type instant vector in aggregation "
     "expression, got scalar"},
    {"sum(foo bar)",
     "1:9: parse error: unexpected identifier \"bar\" in aggregation"},
    {"sum(rate(x y))",
     "1:12: parse error: unexpected identifier \"y\" in aggregation"},
    {"limitk(1, x)",
     "1:1: parse error: limitk() is experimental and must be enabled with "
     "--enable-feature=promql-experimental-functions"},
    /* Functions. */
    {"floor()",
     "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"},
    {"floor(some_metric, 1)",
     "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2"},
    {"floor(1)",
     "1:7: parse error: expected type instant vector in call to function "
     "\"floor\", got scalar"},
    {"hour(some_metric, some_metric, some_metric)",
     "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", "
     "got 3"},
    {"label_join(x, \"a\")",
     "1:1: parse error: expected at least 3 argument(s) in call to "
     "\"label_join\", got 2"},
    {"label_join(x, \"a\", \",\", 1)",
     "1:25: parse error: expected type string in call to function "
     "\"label_join\", got scalar"},
    {"time(some_metric)",
     "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
    {"non_existent_function_far_bar()",
     "1:1: parse error: unknown function with name "
     "\"non_existent_function_far_bar\""},
    {"foo(x[5m])", "1:1: parse error: unknown function with name \"foo\""},
    {"rate(some_metric)",
     "1:6: parse error: expected type range vector in call to function "
     "\"rate\", got instant vector"},
    {"abs(x[5m])",
     "1:5: parse error: expected type instant vector in call to function "
     "\"abs\", got range vector"},
    {"rate(avg)",
     "1:6: parse error: expected type range vector in call to function "
     "\"rate\", got instant vector"},
    {"rate(foo bar)", "1:10: parse error: unexpected identifier \"bar\""},
    {"sort_by_label(x, \"a\")",
     "1:1: parse error: function \"sort_by_label\" is not enabled"},
    {"mad_over_time(x[5m])",
     "1:1: parse error: function \"mad_over_time\" is not enabled"},
    {"-=", "1:2: parse error: unexpected \"=\""},
    {"++-++-+-+-<", "1:11: parse error: unexpected <op:<>"},
    {"e-+=/(0)", "1:4: parse error: unexpected \"=\""},
    {"a>b()", "1:3: parse error: unknown function with name \"b\""},
    {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
    {"foo 1", "1:5: parse error: unexpected number \"1\""},
    {"foo \"a long string value\"",
     "1:5: parse error: unexpected string \"\\\"a long st\"..."},
    {"foo )", "1:6: parse error: unexpected right parenthesis ')'"},
    {"foo ]", "1:5: parse error: unexpected right bracket ']'"},
    {"foo:bar baz:qux",
     "1:9: parse error: unexpected metric identifier \"baz:qux\""},
    {"foo $", "1:5: parse error: unexpected character: '$'"},
    {"foo é", "1:5: parse error: unexpected character: 'é'"},
    /* Strings. */
    {"`\\``", "1:4: parse error: unterminated raw string"},
    {"\"\\", "1:1: parse error: escape sequence not terminated"},
    {"\"abc", "1:1: parse error: unterminated quoted string"},
    {"\"a\nb\"", "1:1: parse error: unterminated quoted string"},
    {"\"\\c\"", "1:1: parse error: unknown escape sequence U+0063 'c'"},
    {"\"\\x.\"",
     "1:1: parse error: illegal character U+002E '.' in escape sequence"},
    {"'\\\"'", "1:1: parse error: unknown escape sequence U+0022 '\"'"},
    {"\"\\400\"",
     "1:1: parse error: escape sequence is an invalid Unicode code point"},
    {"\"\\ud800\"",
     "1:1: parse error: escape sequence is an invalid Unicode code point"},
    {"sum by (\"foo)(some_metric{})",
     "1:9: parse error: unterminated quoted string"},
    /* Positions over several lines. */
    {"foo +\n  bar +\n  baz[5m]",
     "3:3: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"sum(\n  rate(x[5m])\n) by (job\n", "4:1: parse error: unclosed left "
                                         "parenthesis"},
    {"rate(\n  x\n)",
     "2:3: parse error: expected type range vector in call to function "
     "\"rate\", got instant vector"},
};

static void test_valid(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
    const valid_t *c = &valid_cases[i];
    promql_error_t err;
    promql_expr_t *e = promql_parse(c->in, strlen(c->in), &err);
    if (!e) {
      fail_msg("'%s' should parse, got: %s", c->in, err.msg);
    }
    strbuf_t b = STRBUF_INIT;
    promql_format(e, &b);
    const char *want = c->out ? c->out : c->in;
    if (strcmp(strbuf_cstr(&b), want) != 0) {
      fail_msg("'%s': printed '%s', want '%s'", c->in, strbuf_cstr(&b), want);
    }
    /* The printed form is itself canonical. */
    promql_expr_t *e2 = promql_parse(b.data, b.len, &err);
    if (!e2) fail_msg("'%s' reprinted '%s' fails: %s", c->in, b.data, err.msg);
    strbuf_t b2 = STRBUF_INIT;
    promql_format(e2, &b2);
    assert_string_equal(strbuf_cstr(&b2), strbuf_cstr(&b));
    strbuf_free(&b2);
    promql_expr_free(e2);
    strbuf_free(&b);
    promql_expr_free(e);
  }
}

static void test_invalid(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
       i++) {
    const invalid_t *c = &invalid_cases[i];
    promql_error_t err;
    promql_expr_t *e = promql_parse(c->in, strlen(c->in), &err);
    if (e) fail_msg("'%s' should fail", c->in);
    assert_int_equal(err.code, PH_EPARSE);
    if (c->err && strcmp(err.msg, c->err) != 0) {
      fail_msg("'%s': error '%s', want '%s'", c->in, err.msg, c->err);
    }
    assert_true(strncmp(err.msg + err.detail_off - 13, "parse error: ", 13) ==
                0);
  }
}

static void test_regex_errors(void **state) {
  (void)state;
  promql_error_t err;
  const char *in = "foo{a=~\"(\"}";
  assert_null(promql_parse(in, strlen(in), &err));
  assert_true(strncmp(err.msg, "1:5: parse error: error parsing regexp: ",
                      40) == 0);
  assert_non_null(strstr(err.msg, "`^(?s:()$`"));
  /* Valid regexes are accepted, and a regex that cannot match "" makes the
   * selector non-empty. */
  in = "{a=~\"x|y\", b=~\"(?i)abc.*\"}";
  promql_expr_t *e = promql_parse(in, strlen(in), &err);
  assert_non_null(e);
  const promql_node_t *n = promql_expr_root(e);
  assert_false(n->u.vs.matchers[0].matches_empty);
  promql_expr_free(e);
  in = "{a=~\"x|\", b!~\"\"}";
  e = promql_parse(in, strlen(in), &err);
  assert_non_null(e); /* b!~"" does not match the empty value */
  promql_expr_free(e);
}

static const promql_node_t *parse_root(promql_expr_t **e, const char *in) {
  promql_error_t err;
  *e = promql_parse(in, strlen(in), &err);
  if (!*e) fail_msg("'%s': %s", in, err.msg);
  return promql_expr_root(*e);
}

static void test_tree_precedence(void **state) {
  (void)state;
  promql_expr_t *e;
  /* -2^2: the sign applies to the power. */
  const promql_node_t *n = parse_root(&e, "-2^2");
  assert_int_equal(n->kind, PROMQL_NODE_UNARY);
  assert_true(n->u.unary.neg);
  assert_int_equal(n->u.unary.expr->kind, PROMQL_NODE_BINARY);
  assert_int_equal(n->u.unary.expr->u.bin.op, PROMQL_OP_POW);
  assert_int_equal(n->pos.start, 0);
  assert_int_equal(n->pos.end, 4);
  promql_expr_free(e);
  /* -1*2: the literal is folded, then multiplied. */
  n = parse_root(&e, "-1*2");
  assert_int_equal(n->kind, PROMQL_NODE_BINARY);
  assert_int_equal(n->u.bin.lhs->kind, PROMQL_NODE_NUMBER);
  assert_true(n->u.bin.lhs->u.number.val == -1.0);
  assert_int_equal(n->u.bin.lhs->pos.start, 0);
  assert_int_equal(n->u.bin.lhs->pos.end, 2);
  promql_expr_free(e);
  /* ^ is right-associative. */
  n = parse_root(&e, "2 ^ 3 ^ 2");
  assert_int_equal(n->u.bin.rhs->kind, PROMQL_NODE_BINARY);
  assert_int_equal(n->u.bin.lhs->kind, PROMQL_NODE_NUMBER);
  promql_expr_free(e);
  /* - is left-associative. */
  n = parse_root(&e, "1 - 2 - 3");
  assert_int_equal(n->u.bin.lhs->kind, PROMQL_NODE_BINARY);
  assert_true(n->u.bin.rhs->u.number.val == 3.0);
  promql_expr_free(e);
  /* or < and/unless < comparison < +- < * / % atan2 < ^ */
  n = parse_root(&e, "a or b and c == d + e * f ^ g");
  assert_int_equal(n->u.bin.op, PROMQL_OP_OR);
  n = n->u.bin.rhs;
  assert_int_equal(n->u.bin.op, PROMQL_OP_AND);
  n = n->u.bin.rhs;
  assert_int_equal(n->u.bin.op, PROMQL_OP_EQLC);
  n = n->u.bin.rhs;
  assert_int_equal(n->u.bin.op, PROMQL_OP_ADD);
  n = n->u.bin.rhs;
  assert_int_equal(n->u.bin.op, PROMQL_OP_MUL);
  n = n->u.bin.rhs;
  assert_int_equal(n->u.bin.op, PROMQL_OP_POW);
  promql_expr_free(e);
  n = parse_root(&e, "a unless b and c");
  assert_int_equal(n->u.bin.op, PROMQL_OP_AND);
  assert_int_equal(n->u.bin.lhs->u.bin.op, PROMQL_OP_UNLESS);
  promql_expr_free(e);
  n = parse_root(&e, "a atan2 b * c");
  assert_int_equal(n->u.bin.op, PROMQL_OP_MUL);
  promql_expr_free(e);
  /* Unary binds tighter than *: -a * b is (-a) * b. */
  n = parse_root(&e, "-a * b");
  assert_int_equal(n->kind, PROMQL_NODE_BINARY);
  assert_int_equal(n->u.bin.lhs->kind, PROMQL_NODE_UNARY);
  promql_expr_free(e);
  /* Postfix binds tightest: a + b offset 1m. */
  n = parse_root(&e, "a + b offset 1m");
  assert_int_equal(n->u.bin.rhs->u.vs.offset_ms, 60000);
  assert_int_equal(n->u.bin.lhs->u.vs.offset_ms, 0);
  promql_expr_free(e);
}

static void test_tree_selectors(void **state) {
  (void)state;
  promql_expr_t *e;
  const promql_node_t *n =
      parse_root(&e, "foo{a=\"b\", c!=\"d\", e=~\"f\", g!~\"h\"} offset 5m");
  assert_int_equal(n->kind, PROMQL_NODE_VECTOR_SEL);
  assert_string_equal(n->u.vs.name, "foo");
  assert_int_equal(n->u.vs.nmatchers, 5);
  assert_int_equal(n->u.vs.matchers[0].type, TSDB_MATCH_EQ);
  assert_int_equal(n->u.vs.matchers[1].type, TSDB_MATCH_NEQ);
  assert_int_equal(n->u.vs.matchers[2].type, TSDB_MATCH_RE);
  assert_int_equal(n->u.vs.matchers[3].type, TSDB_MATCH_NRE);
  assert_string_equal(n->u.vs.matchers[4].name, "__name__");
  assert_string_equal(n->u.vs.matchers[4].value, "foo");
  assert_int_equal(n->u.vs.offset_ms, 300000);
  assert_int_equal(n->pos.start, 0);
  assert_int_equal(n->pos.end, strlen("foo{a=\"b\", c!=\"d\", e=~\"f\", "
                                      "g!~\"h\"} offset 5m"));
  promql_expr_free(e);

  n = parse_root(&e, "{\"metric.with.dots\", le=\"0.5\"}");
  assert_null(n->u.vs.name);
  assert_int_equal(n->u.vs.nmatchers, 2);
  assert_string_equal(n->u.vs.matchers[0].name, "__name__");
  assert_string_equal(n->u.vs.matchers[0].value, "metric.with.dots");
  promql_expr_free(e);

  /* Escapes decode to bytes, NUL included. */
  n = parse_root(&e, "foo{a=\"x\\x00y\\n\"}");
  assert_int_equal(n->u.vs.matchers[0].value_len, 4);
  assert_memory_equal(n->u.vs.matchers[0].value, "x\0y\n", 4);
  promql_expr_free(e);

  n = parse_root(&e, "foo[5m] @ 1.5 offset -1m30s");
  assert_int_equal(n->kind, PROMQL_NODE_MATRIX_SEL);
  assert_int_equal(n->u.ms.range_ms, 300000);
  assert_int_equal(n->u.ms.vs->u.vs.at, PROMQL_AT_TIMESTAMP);
  assert_int_equal(n->u.ms.vs->u.vs.at_ms, 1500);
  assert_int_equal(n->u.ms.vs->u.vs.offset_ms, -90000);
  assert_int_equal(n->pos.end, strlen("foo[5m] @ 1.5 offset -1m30s"));
  promql_expr_free(e);

  n = parse_root(&e, "rate(foo[1m])[5m:10s] @ end() offset 2m");
  assert_int_equal(n->kind, PROMQL_NODE_SUBQUERY);
  assert_int_equal(n->u.sq.range_ms, 300000);
  assert_int_equal(n->u.sq.step_ms, 10000);
  assert_int_equal(n->u.sq.at, PROMQL_AT_END);
  assert_int_equal(n->u.sq.offset_ms, 120000);
  assert_int_equal(n->u.sq.expr->kind, PROMQL_NODE_CALL);
  promql_expr_free(e);

  n = parse_root(&e, "foo[10m:]");
  assert_int_equal(n->u.sq.step_ms, 0);
  promql_expr_free(e);

  n = parse_root(&e, "foo @ start()");
  assert_int_equal(n->u.vs.at, PROMQL_AT_START);
  promql_expr_free(e);

  n = parse_root(&e, "foo @ 3.3335");
  assert_int_equal(n->u.vs.at_ms, 3334);
  promql_expr_free(e);
}

static void test_tree_operators(void **state) {
  (void)state;
  promql_expr_t *e;
  const promql_node_t *n = parse_root(
      &e, "a / on(x, y) group_left(z) b");
  assert_int_equal(n->u.bin.op, PROMQL_OP_DIV);
  assert_true(n->u.bin.has_matching);
  assert_true(n->u.bin.on);
  assert_int_equal(n->u.bin.card, PROMQL_CARD_MANY_TO_ONE);
  assert_int_equal(n->u.bin.nmatching, 2);
  assert_string_equal(n->u.bin.matching[1], "y");
  assert_int_equal(n->u.bin.ninclude, 1);
  assert_string_equal(n->u.bin.include[0], "z");
  promql_expr_free(e);

  n = parse_root(&e, "a and ignoring(x) b");
  assert_int_equal(n->u.bin.card, PROMQL_CARD_MANY_TO_MANY);
  assert_false(n->u.bin.on);
  promql_expr_free(e);

  n = parse_root(&e, "a > bool 1");
  assert_true(n->u.bin.return_bool);
  assert_false(n->u.bin.has_matching);
  assert_int_equal(promql_node_type(n), PROMQL_VT_VECTOR);
  promql_expr_free(e);

  n = parse_root(&e, "1 > bool 2");
  assert_int_equal(promql_node_type(n), PROMQL_VT_SCALAR);
  promql_expr_free(e);

  n = parse_root(&e, "topk by (job) (3, x)");
  assert_int_equal(n->kind, PROMQL_NODE_AGGREGATE);
  assert_int_equal(n->u.agg.op, PROMQL_AGG_TOPK);
  assert_non_null(n->u.agg.param);
  assert_true(n->u.agg.param->u.number.val == 3.0);
  assert_int_equal(n->u.agg.ngrouping, 1);
  assert_false(n->u.agg.without);
  assert_int_equal(n->pos.end, strlen("topk by (job) (3, x)"));
  promql_expr_free(e);

  n = parse_root(&e, "count_values without (a) (\"v\", x)");
  assert_int_equal(n->u.agg.op, PROMQL_AGG_COUNT_VALUES);
  assert_true(n->u.agg.without);
  assert_int_equal(n->u.agg.param->kind, PROMQL_NODE_STRING);
  promql_expr_free(e);

  n = parse_root(&e, "label_join(x, \"d\", \",\", \"a\", \"b\")");
  assert_int_equal(n->kind, PROMQL_NODE_CALL);
  assert_string_equal(n->u.call.func->name, "label_join");
  assert_int_equal(n->u.call.nargs, 5);
  promql_expr_free(e);

  n = parse_root(&e, "\"x\"");
  assert_int_equal(promql_node_type(n), PROMQL_VT_STRING);
  promql_expr_free(e);
}

static void test_types(void **state) {
  (void)state;
  static const struct {
    const char *in, *type;
  } cases[] = {
      {"1", "scalar"},        {"\"s\"", "string"},
      {"x", "vector"},        {"x[1m]", "matrix"},
      {"x[1m:]", "matrix"},   {"time()", "scalar"},
      {"scalar(x)", "scalar"}, {"(1 + 2)", "scalar"},
      {"-x", "vector"},       {"sum(x)", "vector"},
      {"1 + x", "vector"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    promql_error_t err;
    promql_expr_t *e = promql_parse(cases[i].in, strlen(cases[i].in), &err);
    assert_non_null(e);
    assert_string_equal(promql_expr_type_name(e), cases[i].type);
    promql_expr_free(e);
  }
}

static void check_pretty(const char *in, size_t width, const char *want) {
  promql_error_t err;
  promql_expr_t *e = promql_parse(in, strlen(in), &err);
  if (!e) fail_msg("'%s': %s", in, err.msg);
  strbuf_t b = STRBUF_INIT;
  promql__format_pretty_width(e, &b, width);
  if (strcmp(strbuf_cstr(&b), want) != 0) {
    fail_msg("pretty '%s':\n%s\nwant:\n%s", in, strbuf_cstr(&b), want);
  }
  strbuf_free(&b);
  promql_expr_free(e);
}

static void test_pretty(void **state) {
  (void)state;
  check_pretty("sum(x)", 10, "sum(x)");
  check_pretty("sum by (job) (some_long_metric)", 10,
               "sum by (job) (\n  some_long_metric\n)");
  check_pretty("sum(some_long_metric) without (a,b)", 10,
               "sum without (a, b) (\n  some_long_metric\n)");
  check_pretty("bottomk(3, long_metric_name)", 10,
               "bottomk(\n  3,\n  long_metric_name\n)");
  check_pretty("a+b", 10, "a + b");
  check_pretty("a >= bool 1", 10, "  a\n>= bool\n  1");
  check_pretty("first + second + third", 10,
               "    first\n  +\n    second\n+\n  third");
  check_pretty("ab + cd + long_name", 10, "  ab + cd\n+\n  long_name");
  check_pretty("left / on(x) group_left right", 10,
               "  left\n/ on (x) group_left ()\n  right");
  check_pretty("delta(metric[5m])", 10, "delta(\n  metric[5m]\n)");
  check_pretty("clamp(metric_a, 0, 1)", 10,
               "clamp(\n  metric_a,\n  0,\n  1\n)");
  check_pretty("(x)", 10, "(x)");
  check_pretty("(long_metric)", 10, "(\n  long_metric\n)");
  check_pretty("((long_name))", 10, "(\n  (\n    long_name\n  )\n)");
  check_pretty("-abs(long_metric)", 10, "-abs(\n  long_metric\n)");
  check_pretty("abs(-long_metric_x)", 10, "abs(\n  -long_metric_x\n)");
  check_pretty("max_over_time(deriv(a_metric[1m])[5m:] offset 1m)", 10,
               "max_over_time(\n  deriv(\n    a_metric[1m]\n  )[5m:] offset "
               "1m\n)");
  check_pretty("x @ 5", 10, "x @ 5.000");
  /* The default width is 100: short queries stay on one line. */
  promql_error_t err;
  const char *in = "sum by (job) (rate(http_requests_total[5m]))";
  promql_expr_t *e = promql_parse(in, strlen(in), &err);
  strbuf_t b = STRBUF_INIT;
  promql_format_pretty(e, &b);
  assert_string_equal(strbuf_cstr(&b), in);
  strbuf_free(&b);
  promql_expr_free(e);
  in = "sum by (job) (rate(http_requests_total{job=\"api-server\",code=~\"5..\"}"
       "[5m])) / sum by (job) (rate(http_requests_total[5m]))";
  e = promql_parse(in, strlen(in), &err);
  promql_format_pretty(e, &b);
  assert_string_equal(
      strbuf_cstr(&b),
      "  sum by (job) (rate(http_requests_total{code=~\"5..\",job=\"api-"
      "server\"}[5m]))\n/\n  sum by (job) (rate(http_requests_total[5m]))");
  strbuf_free(&b);
  promql_expr_free(e);
}

/* Fuzz finding: "-Inf ^ yNaN * h0000x1F000FFFF" printed "-+Inf ^ ...", whose
 * "+" read back as a unary plus around the power ("-++Inf ^ ...").  A
 * literal on the left of ^ must print so that it reads back as itself. */
static void test_pow_lhs_literal(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"-Inf ^ yNaN * h0000x1F000FFFF", "-Inf ^ yNaN * h0000x1F000FFFF"},
      {"-Inf ^ y", "-Inf ^ y"}, /* the minimized case */
      {"Inf ^ 2", "Inf ^ 2"},
      {"+Inf ^ 2", "+Inf ^ 2"},
      {"2 * Inf ^ Inf ^ -Inf", "2 * Inf ^ Inf ^ -Inf"},
      {"Inf ^ 2 ^ Inf", "Inf ^ 2 ^ +Inf"},
      {"(Inf) ^ 2", "(+Inf) ^ 2"},
      {"Inf * 2", "+Inf * 2"},
      {"NaN ^ 2", "NaN ^ 2"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    promql_error_t err;
    promql_expr_t *e = promql_parse(cases[i].in, strlen(cases[i].in), &err);
    if (!e) fail_msg("'%s': %s", cases[i].in, err.msg);
    strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
    promql_format(e, &a);
    if (strcmp(strbuf_cstr(&a), cases[i].out) != 0)
      fail_msg("'%s' printed '%s', want '%s'", cases[i].in, strbuf_cstr(&a), cases[i].out);
    promql_expr_t *e2 = promql_parse(a.data, a.len, &err);
    if (!e2) fail_msg("'%s' does not parse back: %s", a.data, err.msg);
    promql_format(e2, &b);
    assert_string_equal(strbuf_cstr(&b), strbuf_cstr(&a));
    promql_expr_free(e2);
    strbuf_free(&a);
    strbuf_free(&b);
    promql_expr_free(e);
  }
  /* The tree survives: Inf ^ 2 is a power of a literal, not a unary. */
  promql_expr_t *e;
  const promql_node_t *n = parse_root(&e, "Inf ^ 2");
  strbuf_t a = STRBUF_INIT;
  promql_format(e, &a);
  promql_expr_free(e);
  n = parse_root(&e, strbuf_cstr(&a));
  assert_int_equal(n->kind, PROMQL_NODE_BINARY);
  assert_int_equal(n->u.bin.lhs->kind, PROMQL_NODE_NUMBER);
  assert_true(isinf(n->u.bin.lhs->u.number.val) && n->u.bin.lhs->u.number.val > 0);
  promql_expr_free(e);
  strbuf_free(&a);
  /* The split pretty form writes the literal the same way. */
  check_pretty("Inf ^ some_long_metric", 10, "  Inf\n^\n  some_long_metric");
}

static void test_function_table(void **state) {
  (void)state;
  for (size_t i = 1; i < promql__nfuncs; i++) {
    assert_true(strcmp(promql__funcs[i - 1].name, promql__funcs[i].name) < 0);
  }
  static const char *const stable[] = {
      "abs", "absent", "absent_over_time", "ceil", "changes", "clamp",
      "clamp_max", "clamp_min", "day_of_month", "day_of_week", "day_of_year",
      "days_in_month", "delta", "deriv", "exp", "floor", "histogram_quantile",
      "histogram_fraction", "hour", "idelta", "increase", "irate",
      "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
      "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort",
      "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
      "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
      "count_over_time", "quantile_over_time", "stddev_over_time",
      "stdvar_over_time", "last_over_time", "first_over_time",
      "present_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
      "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad", "pi",
  };
  for (size_t i = 0; i < sizeof(stable) / sizeof(stable[0]); i++) {
    const promql_func_t *f = promql_func_lookup(stable[i], strlen(stable[i]));
    if (!f) fail_msg("missing function %s", stable[i]);
    assert_string_equal(f->name, stable[i]);
    assert_false(f->experimental);
  }
  assert_null(promql_func_lookup("nope", 4));
  assert_null(promql_func_lookup("rat", 3));
  assert_null(promql_func_lookup("rates", 5));
  const promql_func_t *f = promql_func_lookup("sort_by_label", 13);
  assert_non_null(f);
  assert_true(f->experimental);
  f = promql_func_lookup("quantile_over_time", 18);
  assert_int_equal(f->args[0], PROMQL_VT_SCALAR);
  assert_int_equal(f->args[1], PROMQL_VT_MATRIX);
  assert_int_equal(f->ret, PROMQL_VT_VECTOR);
}

static void test_experimental_option(void **state) {
  (void)state;
  promql_parse_opts_t o = {.experimental_functions = true};
  static const char *const ok[] = {
      "sort_by_label(x, \"a\", \"b\")", "limitk(2, x)", "limit_ratio(0.5, x)",
      "mad_over_time(x[5m])", "double_exponential_smoothing(x[5m], 0.5, 0.5)",
      "ts_of_max_over_time(x[5m])", "min_of(1, 2)", "start()", "step()",
      "histogram_quantiles(x, \"q\", 0.5, 0.9)",
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    promql_error_t err;
    promql_expr_t *e = promql_parse_ex(ok[i], strlen(ok[i]), &o, &err);
    if (!e) fail_msg("'%s': %s", ok[i], err.msg);
    strbuf_t b = STRBUF_INIT;
    promql_format(e, &b);
    assert_string_equal(strbuf_cstr(&b), ok[i]);
    strbuf_free(&b);
    promql_expr_free(e);
    /* And rejected by default. */
    assert_null(promql_parse(ok[i], strlen(ok[i]), &err));
  }
}

static void test_error_struct(void **state) {
  (void)state;
  promql_error_t err;
  const char *in = "sum(x)\n  + foo{";
  assert_null(promql_parse(in, strlen(in), &err));
  assert_int_equal(err.line, 2);
  assert_int_equal(err.col, 9);
  assert_int_equal(err.start, 15);
  assert_string_equal(err.msg + err.detail_off,
                      "unexpected end of input inside braces");
  /* Not NUL-terminated input: only len bytes are read. */
  char buf[8] = {'u', 'p', ' ', '+', ' ', '1', 'x', 'x'};
  promql_expr_t *e = promql_parse(buf, 6, &err);
  assert_non_null(e);
  promql_expr_free(e);
  /* err may be NULL. */
  assert_null(promql_parse("(", 1, NULL));
}

static void test_limits(void **state) {
  (void)state;
  /* Deep nesting fails cleanly instead of exhausting the stack. */
  size_t depth = 20000;
  char *in = malloc(depth * 2 + 2);
  for (size_t i = 0; i < depth; i++) in[i] = '(';
  in[depth] = '1';
  for (size_t i = 0; i < depth; i++) in[depth + 1 + i] = ')';
  in[2 * depth + 1] = '\0';
  promql_error_t err;
  assert_null(promql_parse(in, strlen(in), &err));
  assert_int_equal(err.code, PH_ELIMIT);
  free(in);
  /* A long flat chain within the limit is fine. */
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, "a");
  for (int i = 0; i < 2000; i++) strbuf_puts(&b, " + a");
  promql_expr_t *e = promql_parse(b.data, b.len, &err);
  assert_non_null(e);
  strbuf_t out = STRBUF_INIT;
  promql_format(e, &out);
  assert_string_equal(strbuf_cstr(&out), strbuf_cstr(&b));
  strbuf_free(&out);
  promql_expr_free(e);
  strbuf_free(&b);
  /* Many selectors with errors: the first one is reported. */
  strbuf_puts(&b, "(");
  for (int i = 0; i < 1000; i++) strbuf_puts(&b, "-{}-1");
  strbuf_puts(&b, ")");
  assert_null(promql_parse(b.data, b.len, &err));
  assert_string_equal(err.msg,
                      "1:3: parse error: vector selector must contain at "
                      "least one non-empty matcher");
  strbuf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_regex_errors),
      cmocka_unit_test(test_tree_precedence),
      cmocka_unit_test(test_tree_selectors),
      cmocka_unit_test(test_tree_operators),
      cmocka_unit_test(test_types),
      cmocka_unit_test(test_pretty),
      cmocka_unit_test(test_pow_lhs_literal),
      cmocka_unit_test(test_function_table),
      cmocka_unit_test(test_experimental_option),
      cmocka_unit_test(test_error_struct),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
