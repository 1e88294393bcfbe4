/*
 * migrate.c - evapi --migrate on the host's side (host.h): gather the
 * migrations of every started plugin and hand them to the plugin that
 * exported "evapi.migrator" (plugins/pg), printing what it applied.
 *
 * Exit status: 0 (applied, or nothing to do); 78 when a plugin carries
 * migrations but no database plugin runs; otherwise the migrator's (69:
 * the database cannot be reached, 65: a migration failed, 70: a plugin's
 * migrations are malformed).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "host.h"
#include "util/log.h"

struct tally {
	unsigned applied, already;
};

static void
report(void *arg, const char *plugin, unsigned version, const char *name,
       int applied)
{
	struct tally *t = arg;

	if (applied) {
		t->applied++;
		printf("evapi: applied %s %u (%s)\n", plugin, version, name);
	} else {
		t->already++;
	}
}

static const struct evapi_migrator *
migrator(const struct evapi_host *h)
{
	size_t i;

	for (i = 0; i < h->nexports; i++)
		if (strcmp(h->exports[i].name, "evapi.migrator") == 0)
			return h->exports[i].api;
	return NULL;
}

int
evapi_host_migrate(struct evapi_host *h)
{
	struct evapi_migration_set sets[EVAPI_MAX_PLUGINS];
	const struct evapi_migrator *m = migrator(h);
	struct tally t = {0, 0};
	char err[600];
	size_t i, n = 0;
	int rc;

	for (i = 0; i < h->n; i++) {
		const struct evapi_plugin *d = h->ctx[i].desc;

		if (d->migrations == NULL || d->migrations[0].sql == NULL)
			continue;
		sets[n].plugin = h->ctx[i].name;
		sets[n++].migrations = d->migrations;
	}
	if (n == 0) {
		printf("evapi: nothing to migrate (no plugin of %s carries "
		       "migrations)\n",
		       h->active);
		return 0;
	}
	if (m == NULL || m->run == NULL) {
		evapi_err("plugin \"%s\" carries migrations, but no database "
			  "plugin runs: list \"pg\" in its .needs",
			  sets[0].plugin);
		return EVAPI_EXIT_CONFIG;
	}
	err[0] = '\0';
	rc = m->run(m->self, sets, n, report, &t, err, sizeof(err));
	if (rc != 0) {
		evapi_err("%s", err[0] ? err : "migration failed");
		if (t.applied > 0)
			evapi_err("%u migration(s) applied before it",
				  t.applied);
		return rc;
	}
	printf("evapi: migrations done: %u applied, %u already applied\n",
	       t.applied, t.already);
	return 0;
}
