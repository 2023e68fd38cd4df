/* api_route.h: the API's route table rows and the one matcher that finds a request's row and its
 * path parameters (api_route.c). */
#ifndef FCRD_API_ROUTE_H
#define FCRD_API_ROUTE_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/tokens.h"

struct api;
struct api_call;

/* A handler gets the matched row, the decoded parameters and the caller in call (see api_int.h). */
typedef void (*api_handler_fn)(struct api *a, const struct api_call *call);

/* Flags of a row's parameters. */
#define API_ROUTE_ONE_SEGMENT 1u /* a parameter holding '/' is not valid */
#define API_ROUTE_CHARS 2u       /* max counts UTF-8 characters, not bytes */
#define API_ROUTE_PERSONAL 4u    /* the reply carries personal data: it is access-logged (api_access.h) */

/* One row. `pattern` is the path as proto/openapi.yaml writes it: literal text with parameters
 * "{name}". A parameter stands for one or more characters of the decoded path, '/' included
 * (a CRN holds slashes and may be sent unencoded); when the literal text after it could be found
 * at several places, the parameter takes the longest span ("everything before the final
 * /events"). A parameter that matched but is empty, longer than `max`, or (ONE_SEGMENT) holds a
 * '/', is answered 404 with `invalid` as the message, after the role check. */
struct api_route {
    enum evhttp_cmd_type method;
    const char *pattern;
    enum role role; /* ROLE_NONE: no token needed */
    api_handler_fn handler;
    size_t max;          /* of each parameter; 0 for a row without parameters */
    unsigned flags;      /* API_ROUTE_* */
    const char *invalid; /* the 404 message for an invalid parameter */
};

#define API_ROUTE_MAX_PARAMS 4

enum api_route_result {
    API_ROUTE_FOUND,         /* route and params set */
    API_ROUTE_BAD_PARAM,     /* route set: the path has its shape but a parameter is not valid (404) */
    API_ROUTE_NO_ENDPOINT,   /* route set: the path lies below one of this method's parameterised
                              * routes without being one (404 "no such endpoint" after the role
                              * check, so probing the tree needs a token) */
    API_ROUTE_BAD_METHOD,    /* the path is served, or lies below a served pattern, with other methods (405) */
    API_ROUTE_UNKNOWN,       /* 404 */
    API_ROUTE_BAD_PATH,      /* the path cannot be percent-decoded, decodes to a NUL or is not UTF-8 (400) */
    API_ROUTE_NO_MEMORY,     /* the parameters could not be copied (503) */
};

/* The outcome of api_route_match. Owns its strings: release with api_route_match_clear. */
struct api_route_match {
    enum api_route_result result;
    const struct api_route *route;
    size_t nparams;
    const char *names[API_ROUTE_MAX_PARAMS]; /* point into route->pattern's text (not terminated) */
    size_t namelens[API_ROUTE_MAX_PARAMS];
    char *values[API_ROUTE_MAX_PARAMS]; /* decoded, NUL-terminated, owned */
    char *path;                         /* the decoded path, owned */
};

/* api_route_match: match raw_path (as received, percent-encoded, no query) and method against
 * the n rows of table, in table order. The first row of this method whose pattern matches with
 * valid parameters wins; failing that the first that matches at all (BAD_PARAM). Returns
 * m->result; m must be cleared with api_route_match_clear whatever the result. */
enum api_route_result api_route_match(const struct api_route *table, size_t n, const char *raw_path,
                                      enum evhttp_cmd_type method, struct api_route_match *m);
void api_route_match_clear(struct api_route_match *m);

/* api_route_param: the decoded value of parameter `name` (borrowed from m), or NULL. */
const char *api_route_param(const struct api_route_match *m, const char *name);

/* api_route_method_name: "GET", "POST", "HEAD" ... for a log line or a listing. */
const char *api_route_method_name(enum evhttp_cmd_type method);

#endif
