/*
 * help.c - evapi --help and --help-vars: every variable, from the tables
 * the parser uses (config/vars.c, and each plugin's settings).
 * --help-vars=markdown and =man write the tables of docs/configuration.md
 * and evapi(8) (scripts/gen-vars-doc puts them there; a test compares).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "plugin/host.h"

static void
print_var(const struct evapi_setting *s, const char *owner)
{
	char exp[256];

	evapi_setting_expected(s, exp, sizeof(exp));
	if (owner != NULL)
		printf("  %-24s [%s] %s\n", s->name, owner, s->help);
	else
		printf("  %-24s %s\n", s->name, s->help);
	printf("  %-24s %s (default: %s)\n", "", exp,
	       s->default_value ? s->default_value
	       : (s->flags & EVAPI_SETTING_REQUIRED) ? "none; required"
						     : "unset");
}

/* Plugins named in API_PLUGINS and the ones they need, each once. */
struct seen {
	const char *names[EVAPI_MAX_PLUGINS * 2];
	size_t n;
};

static void
each_plugin(const char *name, const char *path, struct seen *seen,
	    void (*fn)(const struct evapi_plugin *p))
{
	const struct evapi_plugin *p;
	const char *const *need;
	size_t i;

	for (i = 0; i < seen->n; i++)
		if (strcmp(seen->names[i], name) == 0)
			return;
	if (seen->n == sizeof(seen->names) / sizeof(seen->names[0]))
		return;
	seen->names[seen->n++] = name;
	p = evapi_plugin_peek(name, path);
	if (p == NULL)
		return;
	for (need = p->needs; need != NULL && *need != NULL; need++)
		each_plugin(*need, path, seen, fn);
	fn(p);
}

static void
plugins(const struct evapi_config *cfg,
	void (*fn)(const struct evapi_plugin *p))
{
	struct seen seen = {{0}, 0};
	size_t i;

	for (i = 0; i < cfg->nplugins; i++)
		each_plugin(cfg->plugin_names[i], cfg->plugin_path, &seen, fn);
}

static void
print_plugin(const struct evapi_plugin *p)
{
	const struct evapi_setting *s;

	for (s = p->settings; s != NULL && s->name != NULL; s++)
		print_var(s, p->name);
}

void
evapi_help_print(const char *prog, const struct evapi_config *cfg)
{
	const struct evapi_setting *s;

	printf("Usage: %s [OPTION]\n\n"
	       "evapi is an HTTP API server whose handlers are plugins.\n"
	       "It is configured by environment variables only.\n\n"
	       "Options:\n"
	       "  --help, -h          this text\n"
	       "  --version, -V       version, commit and library versions\n"
	       "  --check-config, -t  check the configuration and start the "
	       "plugins,\n"
	       "                      then exit 0 (valid) or 78 (invalid), "
	       "binding nothing\n"
	       "  --migrate           apply the database migrations of the "
	       "plugins in\n"
	       "                      API_PLUGINS not applied yet, then exit 0; "
	       "65 a\n"
	       "                      migration failed, 69 no database, 78 "
	       "configuration\n"
	       "  --healthcheck, --health, -health\n"
	       "                      GET HEALTHCHECK_PATH on this host's PORT "
	       "(PROBE_PORT\n"
	       "                      when set); exit 0 on 2xx, else 1\n\n"
	       "Environment (core):\n",
	       prog);
	for (s = evapi_core_vars; s->name != NULL; s++)
		print_var(s, NULL);
	printf("\nEnvironment (plugins in API_PLUGINS and the ones they "
	       "need):\n");
	plugins(cfg, print_plugin);
	printf("\nExit status: 0 success; 1 healthcheck failed or internal "
	       "error; 64 bad\ncommand line; 78 bad "
	       "configuration or plugin; 128+N stopped\nby a second signal N.\n"
	       "See evapi(8) and evapi-plugin(7).\n");
}

/* ---- --help-vars[=tsv|markdown|man]: the tables of the documentation ---- */

enum vars_format { VARS_TSV, VARS_MARKDOWN, VARS_MAN };
static enum vars_format vars_format;

/* The default as the documentation states it: the same in every build. */
static const char *
doc_default(const struct evapi_setting *s)
{
	if (s->flags & EVAPI_SETTING_BUILD_DEFAULT)
		return NULL;
	return s->default_value;
}

/* TEXT in a markdown table cell: '|' would end the cell. */
static void
md_text(const char *text)
{
	for (; *text != '\0'; text++) {
		if (*text == '|')
			putchar('\\');
		putchar(*text);
	}
}

/* TEXT as roff: backslashes escaped, no line starting a request. */
static void
man_text(const char *text)
{
	if (*text == '.' || *text == '\'')
		fputs("\\&", stdout);
	for (; *text != '\0'; text++)
		if (*text == '\\')
			fputs("\\e", stdout);
		else if (*text == '-')
			fputs("\\-", stdout);
		else
			putchar(*text);
}

static const char *
no_default_words(const struct evapi_setting *s)
{
	if (s->flags & EVAPI_SETTING_BUILD_DEFAULT)
		return "the installed plugin directory";
	return (s->flags & EVAPI_SETTING_REQUIRED) ? "none: required" : "unset";
}

static void
md_var(const struct evapi_setting *s)
{
	char exp[256];

	evapi_setting_expected(s, exp, sizeof(exp));
	printf("| `%s` | ", s->name);
	if (doc_default(s) != NULL)
		printf("`%s`", doc_default(s));
	else
		fputs(no_default_words(s), stdout);
	fputs(" | ", stdout);
	md_text(exp);
	printf(" | %c", toupper((unsigned char)s->help[0]));
	md_text(s->help + (s->help[0] != '\0'));
	fputs(" |\n", stdout);
}

static void
man_var(const struct evapi_setting *s)
{
	char exp[256];

	evapi_setting_expected(s, exp, sizeof(exp));
	printf(".TP\n.B %s\n%c", s->name, toupper((unsigned char)s->help[0]));
	man_text(s->help + (s->help[0] != '\0'));
	fputs(".\n.br\nAllowed: ", stdout);
	man_text(exp);
	fputs(". Default: ", stdout);
	man_text(doc_default(s) != NULL ? doc_default(s) : no_default_words(s));
	fputs(".\n", stdout);
}

static void
tsv_var(const struct evapi_setting *s, const char *owner)
{
	char exp[256];

	evapi_setting_expected(s, exp, sizeof(exp));
	printf("%s\t%s\t%s\t%s\t%s\n", s->name, owner,
	       s->default_value ? s->default_value : "", exp, s->help);
}

static void
vars_table(const struct evapi_setting *s, const char *owner)
{
	if (vars_format == VARS_MARKDOWN)
		fputs("| variable | default | allowed | meaning |\n"
		      "|---|---|---|---|\n",
		      stdout);
	for (; s != NULL && s->name != NULL; s++)
		if (vars_format == VARS_MARKDOWN)
			md_var(s);
		else if (vars_format == VARS_MAN)
			man_var(s);
		else
			tsv_var(s, owner);
}

static void
vars_plugin(const struct evapi_plugin *p)
{
	if (p->settings == NULL || p->settings->name == NULL)
		return;
	if (vars_format == VARS_MARKDOWN) {
		printf("\n### Plugin `%s`\n\n", p->name);
		md_text(p->description ? p->description : "");
		fputs("\n\n", stdout);
	} else if (vars_format == VARS_MAN) {
		printf(".SS Plugin %s\n", p->name);
		man_text(p->description ? p->description : "");
		fputs("\n", stdout);
	}
	vars_table(p->settings, p->name);
}

int
evapi_help_vars(const struct evapi_config *cfg, const char *format)
{
	if (format == NULL || strcmp(format, "tsv") == 0)
		vars_format = VARS_TSV;
	else if (strcmp(format, "markdown") == 0)
		vars_format = VARS_MARKDOWN;
	else if (strcmp(format, "man") == 0)
		vars_format = VARS_MAN;
	else
		return EVAPI_ERR;
	if (vars_format == VARS_MARKDOWN)
		fputs("### Core\n\n", stdout);
	else if (vars_format == VARS_MAN)
		fputs(".SS Core\n", stdout);
	vars_table(evapi_core_vars, "core");
	plugins(cfg, vars_plugin);
	return EVAPI_OK;
}
