/* api_int.h: what the API's route handlers (api_routes.c) share with its server core (api.c). */
#ifndef FCRD_API_INT_H
#define FCRD_API_INT_H

#include <event2/http.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "api/api.h"
#include "api/api_route.h"
#include "api/tokens.h"

/* The authenticated caller of a request. */
struct api_caller {
    const char *user; /* borrowed from the tokens table, valid during the handler */
    enum role role;
};

/* What a handler is given: the request, the table row it matched (row->pattern names the route in
 * log lines), its decoded and checked path parameters, and the caller. Valid during the handler
 * only; the api_read family copies what it keeps. */
struct api_call {
    struct evhttp_request *req;
    const struct api_route *route;
    const struct api_route_match *match;
    struct api_caller who;
    const json_t *access; /* API_ROUTE_PERSONAL: the request's access record (api_access_begin) */
};

/* api_call_param: the path parameter `name` of the call (borrowed, valid during the handler). */
const char *api_call_param(const struct api_call *call, const char *name);

/* The table (api_routes.c). */
extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* Replies. api_send_json takes the reference to body. */
void api_send_json(struct evhttp_request *req, int status, json_t *body);
void api_error(struct evhttp_request *req, int status, const char *code, const char *message, const char *field);

/* api_request_abandoned: for a handler's connection close callback, when the client went away
 * before its reply. evhttp takes a request it has not answered off a connection that fails and
 * leaves it to its owner: such a request (it no longer names a connection) is freed here; one
 * still on its connection goes with it. Returns NULL, for `held = api_request_abandoned(held)`. */
struct evhttp_request *api_request_abandoned(struct evhttp_request *req);

/* api_body_object: the request body as a JSON object (new reference), or NULL once the request has
 * been answered: 413 too_large past `max` bytes (0: no limit of the handler's own beyond
 * [api] max_body, which evhttp enforces), 400 bad_json when it is not one JSON object (duplicate
 * keys included), 400 bad_field naming the first member not in `known` (NULL-terminated; NULL:
 * the handler checks members itself). */
json_t *api_body_object(struct evhttp_request *req, size_t max, const char *const *known);

/* api_read: run one query with text parameters (NULL = SQL NULL; copied) on one of the API's
 * read connections (api_db.h), held to [api] read_statement_timeout_ms; finish gets the request
 * and the result (only when the query succeeded). A failure is answered here: 503 read_timeout
 * when the statement timeout cancelled it, 503 db_unavailable when the connection is lost or
 * absent, 500 internal when PostgreSQL refuses the query (logged once with the call's route
 * pattern and the SQLSTATE, never the server's message, which can quote row data). The request
 * may have been abandoned by its client: then finish is not called. arg is passed through. */
typedef void (*api_finish_fn)(struct evhttp_request *req, const PGresult *res, void *arg);
void api_read(struct api *a, const struct api_call *call, const char *sql, int nparams,
              const char *const *params, api_finish_fn finish, void *arg);
/* api_read_owned: as api_read, and arg_free(arg) is called whenever finish will not be. */
void api_read_owned(struct api *a, const struct api_call *call, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *));
/* api_read_after: as api_read, with pre (no parameters) run first in the same pipeline: sql
 * then runs with a snapshot taken after pre's (the connection reads committed data), and may
 * read what pre set with set_config. finish gets sql's result. */
void api_read_after(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg);
/* api_write_owned: as api_read_owned, on the API's write connection (no statement timeout, in
 * order): for the statements of people's writes, which a long read must not hold up. */
void api_write_owned(struct api *a, const struct api_call *call, const char *sql, int nparams,
                     const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *));

/* api_watch_close: fn(evcon, arg) is called if the request's connection closes before the watch
 * is cleared (fn NULL); one watch per connection. Handlers use it instead of
 * evhttp_connection_set_closecb, which the API keeps for itself (api_conns.h). */
void api_watch_close(struct api *a, struct evhttp_request *req, void (*fn)(struct evhttp_connection *, void *),
                     void *arg);

/* api_database: the API's connections and queues (api_db.h). */
struct api_db *api_database(const struct api *a);

/* api_db_json: the JSON text of a result's cell as a value (new reference), NULL when it is not
 * JSON. Parsed by jsonparse (util/jsonparse.h), the same values as json_loads at a fraction of
 * its cost: a page of a hundred rows is otherwise parsed mostly a character at a time. */
json_t *api_db_json(const PGresult *res, int row, int col);

/* api_read_logged: as api_read_owned (pre may be NULL, as api_read_after otherwise), for a
 * route whose reply carries personal data (API_ROUTE_PERSONAL): build returns the 200 body
 * (new reference), or NULL once it has answered the request itself (404, 500); the body is sent
 * only after the call's access record, with the ids the body holds, is written
 * (api_access_send). build borrows arg; arg_free(arg) is called after it, or whenever it is
 * not called. */
typedef json_t *(*api_build_fn)(struct evhttp_request *req, const PGresult *res, void *arg);
void api_read_logged(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                     const char *const *params, api_build_fn build, void *arg, void (*arg_free)(void *));

/* State the routes need. */
struct access_log *api_access_log(const struct api *a);
struct store *api_store(const struct api *a);
const struct ruleset *api_ruleset(const struct api *a);
bool api_db_up(const struct api *a);
size_t api_ready_backlog(const struct api *a);
bool api_draining(const struct api *a);
struct metrics *api_metrics(const struct api *a);
struct api_streams *api_streams(const struct api *a); /* borrowed */

/* Query-string parameters of a request as a JSON object of strings; NULL (and a 400 sent) when a
 * parameter is repeated or not in `allowed` (NULL-terminated). */
json_t *api_query_params(struct evhttp_request *req, const char *const *allowed);

#endif
