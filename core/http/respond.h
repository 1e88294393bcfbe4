/*
 * respond.h - constant bodies, made at init (respond.c).
 */
#ifndef EVAPI_HTTP_RESPOND_H
#define EVAPI_HTTP_RESPOND_H

#include <evapi/plugin.h>

/* A constant JSON body (validated; a newline appended); NULL when JSON is
 * not valid. Freed by evapi_bodies_free at exit. */
const evapi_body *evapi_body_new(const char *json);
void evapi_bodies_free(void);

#endif
