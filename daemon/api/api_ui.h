/* api_ui.h: the supervisor's page (daemon/ui/), compiled into fcrd and served by the API. */
#ifndef FCRD_API_UI_H
#define FCRD_API_UI_H

#include <stddef.h>

#include "api/api_int.h"

/* One embedded file. Everything is static data of the binary: nothing here is ever freed. */
struct api_ui_asset {
    const char *path; /* URL path, e.g. "/ui/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t size;
    const char *etag; /* quoted strong validator, changes with the bytes */
};

/* The table, generated at build time by scripts/embed-assets.py into api_ui_assets.c. */
extern const struct api_ui_asset api_ui_assets[];
extern const size_t api_ui_nassets;

/* api_ui_find: the asset served at path, or NULL. */
const struct api_ui_asset *api_ui_find(const char *path);

/* GET|HEAD /ui/{file}: one asset, with its security and caching headers; 304 when the
 * client's If-None-Match already names it. */
void api_ui_get(struct api *a, const struct api_call *call);

/* GET|HEAD /: the page itself (/ui/index.html). */
void api_ui_root(struct api *a, const struct api_call *call);

#endif
