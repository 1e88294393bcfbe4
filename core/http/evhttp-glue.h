/*
 * evhttp-glue.h - a site's evhttp, set up the way evapi needs it
 * (evhttp.c).
 */
#ifndef EVAPI_HTTP_EVHTTP_GLUE_H
#define EVAPI_HTTP_EVHTTP_GLUE_H

struct evapi_site;
struct evconnlistener;

struct evapi_glue_limits {
	unsigned long max_header_size;
	unsigned long max_body_size;
	unsigned idle_timeout; /* seconds */
};

/* Limits, callbacks, the gencb and the bevcb of S's evhttp. */
void evapi_glue_configure(struct evapi_site *s,
			  const struct evapi_glue_limits *l);
/* S's listener, once evhttp has it (NULL: closed): error callback,
 * evapi's accept callback first, and the cap. */
void evapi_glue_listener(struct evapi_site *s, struct evconnlistener *lev);
/* S is going away. */
void evapi_glue_forget(struct evapi_site *s);
/* Leave evhttp's accept callback in place (the fallback; tests). */
extern int evapi_glue_no_take_accept;

#endif
