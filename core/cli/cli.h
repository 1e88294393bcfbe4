/*
 * cli.h - the command line: serve (default), --help, --help-vars,
 * --version, --check-config, --healthcheck, --migrate (main.c).
 */
#ifndef EVAPI_CLI_CLI_H
#define EVAPI_CLI_CLI_H

#include "config/conf.h"

void evapi_help_print(const char *prog, const struct evapi_config *cfg);
/* FORMAT: NULL or "tsv", "markdown", "man"; EVAPI_ERR for another. */
int evapi_help_vars(const struct evapi_config *cfg, const char *format);
/* The --healthcheck client: 0 healthy, 1 not. */
int evapi_healthcheck(const struct evapi_config *cfg);

#endif
