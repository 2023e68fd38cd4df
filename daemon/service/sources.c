/* sources.c: the [sources] table: parsing each source's identities, and finding the source a
 * connection's peer speaks for. */
#include "service/sources.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/errbuf.h"

enum ident_kind { IDENT_SUBJECT = 1, IDENT_UID, IDENT_LOOPBACK };

struct ident {
    enum ident_kind kind;
    char *subject; /* IDENT_SUBJECT */
    uid_t uid;     /* IDENT_UID */
};

struct entry {
    char *name;
    struct ident *ids;
    size_t nids;
};

struct sources {
    struct entry *e;
    size_t n;
};

struct sources *sources_new(void)
{
    return calloc(1, sizeof(struct sources));
}

static void entry_clear(struct entry *e)
{
    for (size_t i = 0; i < e->nids; i++)
        free(e->ids[i].subject);
    free(e->ids);
    free(e->name);
}

struct sources *sources_free(struct sources *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        entry_clear(&s->e[i]);
    free(s->e);
    free(s);
    return NULL;
}

size_t sources_count(const struct sources *s)
{
    return s ? s->n : 0;
}

bool sources_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SOURCES_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Whether an item starts at p: one of the four words that begin an identity. */
static bool item_start(const char *p)
{
    if (strncmp(p, "subject:", 8) == 0 || strncmp(p, "uid:", 4) == 0 || strncmp(p, "user:", 5) == 0)
        return true;
    if (strncmp(p, "loopback", 8) == 0) {
        char c = p[8];
        return c == '\0' || c == ',' || is_blank(c);
    }
    return false;
}

/* The end of the item starting at p: the first comma, not escaped with a backslash, that the
 * start of another item follows. RFC 2253 separates a subject's attributes with commas too, but
 * each of those is followed by an attribute type and '=' (CN=, O=, UID=), never by one of the
 * four words and ':'. */
static const char *item_end(const char *p)
{
    for (const char *c = p; *c; c++) {
        if (*c == '\\' && c[1]) {
            c++;
            continue;
        }
        if (*c != ',')
            continue;
        const char *q = c + 1;
        while (is_blank(*q))
            q++;
        if (item_start(q))
            return c;
    }
    return p + strlen(p);
}

static bool ident_equal(const struct ident *a, const struct ident *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == IDENT_SUBJECT)
        return strcmp(a->subject, b->subject) == 0;
    if (a->kind == IDENT_UID)
        return a->uid == b->uid;
    return true;
}

static int parse_uid(const char *text, uid_t *out)
{
    if (!*text)
        return -1;
    unsigned long long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
        if (v >= (uid_t)-1) /* (uid_t)-1 means "no user" to the kernel */
            return -1;
    }
    *out = (uid_t)v;
    return 0;
}

static int lookup_user(const char *name, uid_t *out, char *why, size_t whylen)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t len = size > 0 ? (size_t)size : 16384;
    char *buf = malloc(len);
    if (!buf)
        return errbuf_set(why, whylen, "out of memory");
    struct passwd pw, *found = NULL;
    int rc = getpwnam_r(name, &pw, buf, len, &found);
    if (found)
        *out = pw.pw_uid;
    free(buf);
    if (rc != 0)
        return errbuf_set(why, whylen, "'user:%s': cannot look the user up: %s", name, strerror(rc));
    if (!found)
        return errbuf_set(why, whylen, "'user:%s': no such user", name);
    return 0;
}

/* One item, trimmed, into *id. */
static int parse_item(const char *item, struct ident *id, char *why, size_t whylen)
{
    *id = (struct ident){0};
    if (strncmp(item, "subject:", 8) == 0) {
        const char *subj = item + 8;
        while (is_blank(*subj))
            subj++;
        if (!*subj)
            return errbuf_set(why, whylen, "'%s': empty subject", item);
        if (!strchr(subj, '='))
            return errbuf_set(why, whylen, "'%s': expected an RFC 2253 subject such as CN=room-a,O=Example", item);
        id->kind = IDENT_SUBJECT;
        id->subject = strdup(subj);
        return id->subject ? 0 : errbuf_set(why, whylen, "out of memory");
    }
    if (strncmp(item, "uid:", 4) == 0) {
        id->kind = IDENT_UID;
        if (parse_uid(item + 4, &id->uid) != 0)
            return errbuf_set(why, whylen, "'%s': expected a numeric user id", item);
        return 0;
    }
    if (strncmp(item, "user:", 5) == 0) {
        id->kind = IDENT_UID;
        if (!item[5])
            return errbuf_set(why, whylen, "'%s': empty user name", item);
        return lookup_user(item + 5, &id->uid, why, whylen);
    }
    if (strcmp(item, "loopback") == 0) {
        id->kind = IDENT_LOOPBACK;
        return 0;
    }
    return errbuf_set(why, whylen, "'%s': expected subject:SUBJECT, uid:N, user:NAME or loopback", item);
}

static void ident_text(const struct ident *id, char *buf, size_t len)
{
    if (id->kind == IDENT_SUBJECT)
        errbuf_set(buf, len, "subject:%s", id->subject);
    else if (id->kind == IDENT_UID)
        errbuf_set(buf, len, "uid:%lu", (unsigned long)id->uid);
    else
        errbuf_set(buf, len, "loopback");
}

/* Whether id is taken already: *owner gets the source that has it, or NULL when it is the entry
 * being read (self) that lists it twice. */
static bool taken(const struct sources *s, const struct entry *self, const struct ident *id, const char **owner)
{
    *owner = NULL;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->e[i].nids; j++)
            if (ident_equal(&s->e[i].ids[j], id)) {
                *owner = s->e[i].name;
                return true;
            }
    for (size_t j = 0; j < self->nids; j++)
        if (ident_equal(&self->ids[j], id))
            return true;
    return false;
}

int sources_add(struct sources *s, const char *name, const char *value, char *why, size_t whylen)
{
    if (!sources_valid_name(name))
        return errbuf_set(why, whylen, "a source name is 1 to %d characters, each A-Z, a-z, 0-9, '_', '-' or '.'",
                          SOURCES_NAME_MAX);
    if (strcmp(name, SOURCES_DEFAULT) == 0)
        return errbuf_set(why, whylen, "'%s' is the source of every connection when [sources] is not configured; "
                                       "give the room a name of its own", SOURCES_DEFAULT);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0)
            return errbuf_set(why, whylen, "source given twice (list all its identities on one line)");
    struct entry e = {0};
    e.name = strdup(name);
    size_t cap = 1;
    for (const char *p = value; *p; p++)
        cap += *p == ',';
    e.ids = calloc(cap, sizeof(*e.ids));
    if (!e.name || !e.ids) {
        entry_clear(&e);
        return errbuf_set(why, whylen, "out of memory");
    }
    const char *p = value;
    for (;;) {
        while (is_blank(*p))
            p++;
        const char *end = item_end(p);
        size_t n = (size_t)(end - p);
        while (n && is_blank(p[n - 1]))
            n--;
        char *item = strndup(p, n);
        if (!item) {
            entry_clear(&e);
            return errbuf_set(why, whylen, "out of memory");
        }
        int rc = 0;
        if (!*item)
            rc = errbuf_set(why, whylen, "empty item in the list");
        else
            rc = parse_item(item, &e.ids[e.nids], why, whylen);
        free(item);
        if (rc != 0) {
            entry_clear(&e);
            return -1;
        }
        const char *owner;
        if (taken(s, &e, &e.ids[e.nids], &owner)) {
            char text[600];
            ident_text(&e.ids[e.nids], text, sizeof(text));
            free(e.ids[e.nids].subject);
            entry_clear(&e);
            if (!owner)
                return errbuf_set(why, whylen, "'%s' is listed twice", text);
            return errbuf_set(why, whylen, "'%s' already belongs to source %s", text, owner);
        }
        e.nids++;
        if (!*end)
            break;
        p = end + 1;
    }
    struct entry *grown = realloc(s->e, (s->n + 1) * sizeof(*grown));
    if (!grown) {
        entry_clear(&e);
        return errbuf_set(why, whylen, "out of memory");
    }
    s->e = grown;
    s->e[s->n++] = e;
    return 0;
}

static const char *find(const struct sources *s, const struct ident *want)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->e[i].nids; j++)
            if (ident_equal(&s->e[i].ids[j], want))
                return s->e[i].name;
    return NULL;
}

const char *sources_match(const struct sources *s, const struct sources_peer *peer)
{
    if (!s || !peer)
        return NULL;
    const char *name = NULL;
    if (peer->subject && *peer->subject) {
        struct ident id = {.kind = IDENT_SUBJECT, .subject = (char *)peer->subject};
        name = find(s, &id);
    }
    if (!name && peer->has_uid) {
        struct ident id = {.kind = IDENT_UID, .uid = peer->uid};
        name = find(s, &id);
    }
    if (!name && peer->loopback) {
        struct ident id = {.kind = IDENT_LOOPBACK};
        name = find(s, &id);
    }
    return name;
}

bool sources_equal(const struct sources *a, const struct sources *b)
{
    if (!a || !b)
        return a == b;
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->e[i].name, b->e[i].name) != 0 || a->e[i].nids != b->e[i].nids)
            return false;
        for (size_t j = 0; j < a->e[i].nids; j++)
            if (!ident_equal(&a->e[i].ids[j], &b->e[i].ids[j]))
                return false;
    }
    return true;
}
