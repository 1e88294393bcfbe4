/*
 * loader-dl.c - the dynamic build: plugins are API_PLUGIN_DIR/NAME.so.
 *
 * A name maps to exactly one file: never a path, never a library search
 * (a bare dlopen name would search LD_LIBRARY_PATH). The file is vetted
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

#include "evapi-internal.h"

const char evapi_plugin_mode[] = "dynamic";

static void
fail(const char *name, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(const char *name, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evapi_err("plugin \"%s\" (%s): %s", name, path, msg);
}

void
evapi_plugin_available(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t o = 0;

	out[0] = '\0';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		int n;

		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
			continue;
		n = snprintf(out + o, outlen - o, "%s%.*s", o ? ", " : "",
			     (int)(len - 3), e->d_name);
		if (n < 0 || (size_t)n >= outlen - o)
			break;
		o += (size_t)n;
	}
	closedir(d);
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
		fail(name, path, "plugin directory API_PLUGIN_DIR=%s: %s", dir,
		     strerror(errno));
		return EVAPI_ERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		fail(name, path, "API_PLUGIN_DIR=%s is not a directory", dir);
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
check_missing(const char *name, const char *dir, const char *path)
{
	char avail[512];

	evapi_plugin_available(dir, avail, sizeof(avail));
	fail(name, path, "file not found; plugins in %s: %s", dir,
	     avail[0] ? avail : "none");
	return EVAPI_ERR;
}

static int
check_file(const char *name, const char *dir, const char *path)
{
	char realdir[PATH_MAX], realfile[PATH_MAX];
	struct stat st;
	const char *why;
	size_t dlen;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return check_missing(name, dir, path);
		fail(name, path, "cannot stat: %s", strerror(errno));
		return EVAPI_ERR;
	}
	if (check_dir(name, dir, path, realdir) != EVAPI_OK)
		return EVAPI_ERR;
	if (S_ISLNK(st.st_mode)) {
		/* A link may point to a sibling, never out of the directory. */
		if (realpath(path, realfile) == NULL)
			return check_missing(name, dir, path);
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

static int
plugin_path(const char *name, const char *dir, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s.so", dir, name);

	return (n > 0 && (size_t)n < len) ? EVAPI_OK : EVAPI_ERR;
}

static void *
open_and_find(const char *name, const char *path, void **handle)
{
	char sym[EVAPI_NAME_MAX + 16];
	size_t i;
	void *desc;

	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (*handle == NULL) {
		fail(name, path, "dlopen failed: %s", dlerror());
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
		     "EVAPI_PLUGIN(%s) from <evapi/plugin.h>)", sym, sym + 13);
		dlclose(*handle);
		*handle = NULL;
	}
	return desc;
}

int
evapi_plugin_open(struct evapi_host *host, const char *name, const char *dir)
{
	const struct evapi_plugin *desc;
	void *handle;

	snprintf(host->name, sizeof(host->name), "%s", name);
	if (plugin_path(name, dir, host->path, sizeof(host->path)) !=
	    EVAPI_OK) {
		fail(name, dir, "plugin path too long");
		return EVAPI_ERR;
	}
	if (check_file(name, dir, host->path) != EVAPI_OK ||
	    check_elf(name, host->path) != EVAPI_OK)
		return EVAPI_ERR;
	desc = open_and_find(name, host->path, &handle);
	if (desc == NULL)
		return EVAPI_ERR;
	if (evapi_plugin_check(desc, name, host->path) != EVAPI_OK) {
		dlclose(handle);
		return EVAPI_ERR;
	}
	host->desc = desc;
	host->dl_handle = handle;
	return EVAPI_OK;
}

void
evapi_plugin_close(struct evapi_host *host)
{
	/* Never dlclose: code of a plugin may still be referenced by libevent
	 * callbacks until the process ends (PostgreSQL never unloads
	 * either). The handle is released at exit. */
	host->desc = NULL;
}

const struct evapi_plugin *
evapi_plugin_peek(const char *name, const char *dir)
{
	struct evapi_host h;
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
	rc = evapi_plugin_open(&h, name, dir);
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	return rc == EVAPI_OK ? h.desc : NULL;
}
