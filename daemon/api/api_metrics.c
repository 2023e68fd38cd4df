/* api_metrics.c: GET /metrics answers from memory (never from the database), so a scrape works
 * and says so while the database is down. */
#include "api/api_metrics.h"

#include <event2/buffer.h>

#include "service/metrics.h"

void api_get_metrics(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    struct evbuffer *out = evbuffer_new();
    if (!out || metrics_render(api_metrics(a), out) != 0) {
        if (out)
            evbuffer_free(out);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", METRICS_CONTENT_TYPE);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}
