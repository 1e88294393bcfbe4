/*
 * loader-dl.c - the dynamic build: plugin NAME is NAME.so in the first
 * directory of API_PLUGIN_PATH that has one.
 *
 * A name maps to one file: never a path, never a library search (a bare
 * dlopen name would search LD_LIBRARY_PATH). The file is vetted
 * before dlopen because dlopen runs the library's constructors: a file or
 * directory others can write, owned by another user, or a symlink out of
 * the directory is refused. RTLD_NOW makes a missing symbol fail here, at
 * start, rather than in the middle of a request.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "util/log.h"

const char evapi_plugin_mode[] = "dynamic";

#define fail evapi_plugin_report

/* The .so names of one directory, appended to OUT at *O. */
static void
list_dir(const char *dir, char *out, size_t outlen, size_t *o)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		int n;

		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
			continue;
		n = snprintf(out + *o, outlen - *o, "%s%.*s", *o ? ", " : "",
			     (int)(len - 3), e->d_name);
		if (n < 0 || (size_t)n >= outlen - *o)
			break;
		*o += (size_t)n;
	}
	closedir(d);
}

/* Call FN for each directory of the ':'-separated PATH, in order, until it
 * returns non-zero. */
static int
each_dir(const char *path, int (*fn)(const char *dir, void *arg), void *arg)
{
	char dir[PATH_MAX];
	const char *p = path;
	int rc;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");

		if (n > 0 && n < sizeof(dir)) {
			memcpy(dir, p, n);
			dir[n] = '\0';
			if ((rc = fn(dir, arg)) != 0)
				return rc;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

struct listing {
	char *out;
	size_t outlen, o;
};

static int
list_one(const char *dir, void *arg)
{
	struct listing *l = arg;

	list_dir(dir, l->out, l->outlen, &l->o);
	return 0;
}

void
evapi_plugin_available(const char *path, char *out, size_t outlen)
{
	struct listing l = {out, outlen, 0};

	out[0] = '\0';
	each_dir(path, list_one, &l);
}

/* Writable by group or others, or owned by someone who is neither root nor
 * us: anyone but the administrator could swap the code we are about to
 * run. */
static const char *
unsafe_owner_or_mode(const struct stat *st)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "is writable by group or others";
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return "is owned by another user (not root, not evapi's user)";
	return NULL;
}

static int
check_dir(const char *name, const char *dir, const char *path,
	  char *realdir)
{
	struct stat st;
	const char *why;

	if (realpath(dir, realdir) == NULL || stat(realdir, &st) != 0) {
		fail(name, path, "plugin directory %s: %s", dir,
		     strerror(errno));
		return EVAPI_ERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		fail(name, path, "%s is not a directory", dir);
		return EVAPI_ERR;
	}
	if ((why = unsafe_owner_or_mode(&st)) != NULL) {
		fail(name, path, "refused: the plugin directory %s %s", realdir,
		     why);
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static int
check_file(const char *name, const char *dir, const char *path)
{
	char realdir[PATH_MAX], realfile[PATH_MAX];
	struct stat st;
	const char *why;
	size_t dlen;

	if (lstat(path, &st) != 0) {
		fail(name, path, "cannot stat: %s", strerror(errno));
		return EVAPI_ERR;
	}
	if (check_dir(name, dir, path, realdir) != EVAPI_OK)
		return EVAPI_ERR;
	if (S_ISLNK(st.st_mode)) {
		/* A link may point to a sibling, never out of the directory. */
		if (realpath(path, realfile) == NULL) {
			fail(name, path, "a dangling symlink");
			return EVAPI_ERR;
		}
		dlen = strlen(realdir);
		if (strncmp(realfile, realdir, dlen) != 0 ||
		    realfile[dlen] != '/' ||
		    strchr(realfile + dlen + 1, '/') != NULL) {
			fail(name, path,
			     "refused: symlink leads out of the plugin "
			     "directory (to %s)", realfile);
			return EVAPI_ERR;
		}
		if (stat(realfile, &st) != 0) {
			fail(name, path, "cannot stat: %s", strerror(errno));
			return EVAPI_ERR;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		fail(name, path, "refused: not a regular file");
		return EVAPI_ERR;
	}
	if ((why = unsafe_owner_or_mode(&st)) != NULL) {
		fail(name, path, "refused: the file %s", why);
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* dlopen's message for a text file is cryptic; say what it is. */
static int
check_elf(const char *name, const char *path)
{
	unsigned char magic[4];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fail(name, path, "cannot open: %s", strerror(errno));
		return EVAPI_ERR;
	}
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n != 4 || memcmp(magic, "\177ELF", 4) != 0) {
		fail(name, path, "not a shared object (no ELF header)");
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static void *
open_and_find(const char *name, const char *path, void **handle)
{
	char sym[EVAPI_NAME_MAX + 16];
	const char *why;
	size_t i;
	void *desc;

	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (*handle == NULL) {
		why = dlerror();
		/* A function of a newer evapi than this one. */
		if (why != NULL && strstr(why, "undefined symbol: evapi_"))
			fail(name, path, "needs a function this evapi (ABI "
			     "%d.%d) lacks; was it built for a newer one? %s",
			     EVAPI_ABI_MAJOR, EVAPI_ABI_MINOR, why);
		else
			fail(name, path, "dlopen failed: %s", why);
		return NULL;
	}
	/* Symbols cannot hold '-': a plugin "foo-bar" exports
	 * evapi_plugin_foo_bar. */
	snprintf(sym, sizeof(sym), "evapi_plugin_%s", name);
	for (i = 0; sym[i] != '\0'; i++)
		if (sym[i] == '-')
			sym[i] = '_';
	dlerror();
	desc = dlsym(*handle, sym);
	if (desc == NULL) {
		fail(name, path,
		     "no descriptor symbol %s (define it with "
		     "EVAPI_PLUGIN(%s) from <evapi/plugin.h>)",
		     sym, sym + 13);
		dlclose(*handle);
		*handle = NULL;
	}
	return desc;
}

/* Looking for NAME.so along the path: the first directory that has it. */
struct search {
	const char *name;
	char file[PATH_MAX];
	char missing[1024]; /* directories that do not exist */
	size_t mo;
};

static int
search_one(const char *dir, void *arg)
{
	struct search *s = arg;
	struct stat st;
	int n;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		n = snprintf(s->missing + s->mo, sizeof(s->missing) - s->mo,
			     "%s%s", s->mo ? ", " : "", dir);
		if (n > 0 && (size_t)n < sizeof(s->missing) - s->mo)
			s->mo += (size_t)n;
		return 0;
	}
	n = snprintf(s->file, sizeof(s->file), "%s/%s.so", dir, s->name);
	if (n < 0 || (size_t)n >= sizeof(s->file))
		return 0;
	return lstat(s->file, &st) == 0 ? 1 : 0;
}

static int
not_found(const char *name, const char *path, const struct search *s)
{
	char avail[512];

	evapi_plugin_available(path, avail, sizeof(avail));
	fail(name, path, "no %s.so in API_PLUGIN_PATH; plugins there: %s%s%s",
	     name, avail[0] ? avail : "none",
	     s->mo ? "; directories that do not exist: " : "",
	     s->mo ? s->missing : "");
	return EVAPI_ERR;
}

int
evapi_plugin_open(struct evapi_ctx *ctx, const char *name, const char *path)
{
	const struct evapi_plugin *desc;
	struct search s;
	char dir[PATH_MAX];
	void *handle;

	memset(&s, 0, sizeof(s));
	s.name = name;
	snprintf(ctx->name, sizeof(ctx->name), "%s", name);
	if (each_dir(path, search_one, &s) == 0)
		return not_found(name, path, &s);
	snprintf(ctx->path, sizeof(ctx->path), "%s", s.file);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(s.file, '/') - s.file),
		 s.file);
	if (check_file(name, dir, ctx->path) != EVAPI_OK ||
	    check_elf(name, ctx->path) != EVAPI_OK)
		return EVAPI_ERR;
	desc = open_and_find(name, ctx->path, &handle);
	if (desc == NULL)
		return EVAPI_ERR;
	if (evapi_plugin_check(desc, name, ctx->path) != EVAPI_OK) {
		dlclose(handle);
		return EVAPI_ERR;
	}
	ctx->desc = desc;
	ctx->dl_handle = handle;
	return EVAPI_OK;
}

void
evapi_plugin_close(struct evapi_ctx *ctx)
{
	/* Never dlclose: code of a plugin may still be referenced by libevent
	 * callbacks until the process ends (PostgreSQL never unloads
	 * either). The handle is released at exit. */
	ctx->desc = NULL;
}

const struct evapi_plugin *
evapi_plugin_peek(const char *name, const char *path)
{
	struct evapi_ctx h;
	int saved = dup(STDERR_FILENO);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int rc;

	/* --help lists plugin variables when it can; silence the reasons
	 * it cannot. */
	memset(&h, 0, sizeof(h));
	if (devnull >= 0) {
		fflush(stderr);
		dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
	rc = evapi_plugin_open(&h, name, path);
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	return rc == EVAPI_OK ? h.desc : NULL;
}
