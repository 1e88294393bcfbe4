/*
 * test-redact.c - the PostgreSQL password redaction of the ready plugin
 * (plugins/ready/redact.c): no byte of a password in any spelling libpq
 * accepts ever reaches a log line.
 */
#include <stdio.h>
#include <string.h>

#include "redact.h"
#include "tap.h"

static void
redacts(const char *in, const char *want)
{
	char out[512];

	evapi_pg_redact(in, out, sizeof(out));
	is_str(out, want, "redact %s", want);
}

/* No byte run of the password may survive: check each FRAGMENT (the
 * pieces a naive parser would split it into) is absent. */
static void
hides(const char *in, const char *const *fragments)
{
	char out[512];

	evapi_pg_redact(in, out, sizeof(out));
	for (; *fragments; fragments++)
		ok(strstr(out, *fragments) == NULL, "%s hides %s (got %s)", in,
		   *fragments, out);
}

static void
test_redact_hostile(void)
{
	static const char *const upper[] = {"S3cretPass", NULL};
	static const char *const query[] = {"S3c", "retPass", NULL};
	static const char *const at[] = {"pa", "ss1234", NULL};
	static const char *const slash[] = {"pa/", "ss@", "ss", NULL};
	static const char *const hash[] = {"ab", "cd", NULL};
	static const char *const esc[] = {"S3c", "retPass", NULL};
	static const char *const ssl[] = {"K3yPass", NULL};

	/* The scheme is matched in any case. */
	redacts("POSTGRESQL://app:S3cretPass@db/app", "POSTGRESQL://app:***@db/app");
	redacts("Postgres://app:S3cretPass@db/app", "Postgres://app:***@db/app");
	hides("POSTGRESQL://app:S3cretPass@db/app", upper);
	/* libpq ends the userinfo at the first '@' before the first '/',
	 * whatever '?' or '#' come before it. */
	redacts("postgresql://app:S3c?retPass@db/app?foo=1",
		"postgresql://app:***@db/app?foo=1");
	hides("postgresql://app:S3c?retPass@db/app?foo=1", query);
	hides("postgresql://app:S3c#retPass@db/app", query);
	/* Unencoded '@' and '/' in the password: hide up to the last '@'. */
	redacts("postgresql://app:pa@ss1234@db/app", "postgresql://app:***@db/app");
	hides("postgresql://app:pa@ss1234@db/app", at);
	redacts("postgresql://app:pa/ss@db/app", "postgresql://app:***@db/app");
	hides("postgresql://app:pa/ss@db/app", slash);
	/* '#' does not end a URI parameter value for libpq. */
	redacts("postgresql://app@db/app?password=ab#cd&sslmode=disable",
		"postgresql://app@db/app?password=***&sslmode=disable");
	hides("postgresql://app@db/app?password=ab#cd", hash);
	/* key=value: a backslash escapes white space in unquoted values. */
	redacts("host=db password=S3c\\ retPass nosuch=1",
		"host=db password=*** nosuch=1");
	hides("host=db password=S3c\\ retPass nosuch=1", esc);
	redacts("host=db password=S3c\\\\ retPass=1",
		"host=db password=*** retPass=1");
	redacts("password='S3c\\' retPass' host=db", "password=*** host=db");
	hides("password='S3c\\' retPass' host=db", esc);
	redacts("password S3cretPass host=db", "password ***");
	hides("password S3cretPass host=db", upper);
	/* Every key containing "password", in both forms. */
	redacts("host=db sslpassword=K3yPass sslkey=/k",
		"host=db sslpassword=*** sslkey=/k");
	redacts("postgresql://app@db/app?sslpassword=K3yPass&sslmode=require",
		"postgresql://app@db/app?sslpassword=***&sslmode=require");
	redacts("postgresql://app@db/app?ssl%70assword=K3yPass",
		"postgresql://app@db/app?ssl%70assword=***");
	hides("postgresql://app@db/app?%73slpassword=K3yPass", ssl);
	hides("host=db SSLPASSWORD = 'K3yPass'", ssl);
}

static void
test_redact(void)
{
	redacts("postgresql://app:s3cret@db:5432/app?sslmode=disable",
		"postgresql://app:***@db:5432/app?sslmode=disable");
	redacts("postgres://app:p@ss@db/app", "postgres://app:***@db/app");
	redacts("postgresql://app@db/app?password=s3cret&sslmode=require",
		"postgresql://app@db/app?password=***&sslmode=require");
	redacts("host=db user=app password=s3cret dbname=app",
		"host=db user=app password=*** dbname=app");
	redacts("host=db password = 'se cr\\'et' dbname=app",
		"host=db password=*** dbname=app");
	redacts("postgresql:///app?host=/run/pg", "postgresql:///app?host=/run/pg");
	redacts("postgresql://app@db/app?%70assword=s3cret",
		"postgresql://app@db/app?%70assword=***");
	redacts("postgresql://app@db/app?sslmode=require&PASSWORD=s3cret",
		"postgresql://app@db/app?sslmode=require&PASSWORD=***");
	/* A dbname that is itself a connection string is hidden whole. */
	redacts("host=db dbname=postgresql://u:s3cret@h/db user=app",
		"host=db dbname=*** user=app");
	redacts("dbname='host=h password=s3cret' user=app",
		"dbname=*** user=app");
	redacts("host=db dbname=app", "host=db dbname=app");
	redacts("postgresql://app@db/postgresql%3A%2F%2Fu%3As3cret%40h",
		"postgresql://app@db/***");
	redacts("postgresql://app@db/x%3Dy?sslmode=require",
		"postgresql://app@db/***?sslmode=require");
	redacts("postgresql://app@db/app?d%62name=password%3Ds3cret&a=b",
		"postgresql://app@db/app?d%62name=***&a=b");
	redacts("postgresql://app@db/app?dbname=other",
		"postgresql://app@db/app?dbname=other");
}

int
main(void)
{
	test_redact();
	test_redact_hostile();
	return tap_done();
}
