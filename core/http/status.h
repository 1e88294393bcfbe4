/*
 * status.h - HTTP status codes: reason phrases (RFC 9110 15), and what a
 * status allows in a response.
 */
#ifndef EVAPI_HTTP_STATUS_H
#define EVAPI_HTTP_STATUS_H

/* The reason phrase of STATUS ("OK"), or "" for one without a name. */
const char *evapi_status_reason(int status);
/* A response with STATUS carries no body (1xx, 204, 304). */
int evapi_status_bodyless(int status);

#endif
