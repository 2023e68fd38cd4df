/* fcrctl.h: exit statuses of fcrctl, shared by its modules (the numbers are part of its
 * documented interface: scripts test them, so they never change meaning). */
#ifndef FCRCTL_H
#define FCRCTL_H

enum fcrctl_exit {
    FCRCTL_EXIT_OK = 0,
    FCRCTL_EXIT_FAILURE = 1,   /* anything else: an unexpected reply, out of memory, output error */
    FCRCTL_EXIT_USAGE = 2,     /* the command line (or token, URL) is wrong; nothing was sent */
    FCRCTL_EXIT_AUTH = 3,      /* 401 or 403 */
    FCRCTL_EXIT_NOT_FOUND = 4, /* 404 */
    FCRCTL_EXIT_REFUSED = 5,   /* 409 or 422: the state or a recording rule forbids it */
    FCRCTL_EXIT_BAD_REQUEST = 6, /* 400 and other 4xx */
    FCRCTL_EXIT_UNAVAILABLE = 7, /* 5xx: the daemon or its database is unavailable */
    FCRCTL_EXIT_CONNECT = 8,   /* no HTTP reply at all: cannot connect, connection lost, timeout */
    FCRCTL_EXIT_CHAIN = 9,     /* audit verify found the chain broken */
};

#endif
