# evapi.m4 - the project's own autoconf macros.

# EVAPI_REQUIRE_PKG(VARIABLE-PREFIX, MODULES, DEBIAN-PACKAGE, ALPINE-PACKAGE)
# -------------------------------------------------------------------------
# Find MODULES with pkg-config or stop configure with one line naming the
# library and the package that provides it on Debian and on Alpine.
AC_DEFUN([EVAPI_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$2 not found (pkg-config): install the Debian package $3 or the Alpine package $4])])
])

# EVAPI_CHECK_CFLAG(FLAG, VARIABLE)
# ---------------------------------
# Append FLAG to VARIABLE when the C compiler accepts it.
AC_DEFUN([EVAPI_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  evapi_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS $1 -Werror"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2="$$2 $1"],
    [AC_MSG_RESULT([no])])
  CFLAGS=$evapi_save_CFLAGS
])
