# evapi container images.
#
# Targets:
#   static (default, the last stage)  FROM scratch: the fully static musl
#       binary, a CA bundle, passwd/group files for uid 10001 and the SBOM
#       (/usr/share/evapi/sbom.cdx.json, CycloneDX). ~3 MB.
#   debug  alpine:3.20 with the dynamic musl build: the plugins as .so files
#       in /usr/local/lib/evapi, plus alpine's shell and wget, and the SBOM.
# Both run as uid/gid 10001, listen on 8080 and use `/evapi --healthcheck`.
#
#   DOCKER_BUILDKIT=1 docker build -t evapi \
#       --build-arg VERSION="$(build-aux/git-version-gen .)" \
#       --build-arg COMMIT="$(git rev-parse HEAD)" \
#       --build-arg CREATED="$(git log -1 --format=%cI)" \
#       --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" .
#   DOCKER_BUILDKIT=1 docker build --target debug -t evapi:debug ...  (same --build-arg flags)
#   docker buildx build --platform linux/amd64,linux/arm64 ...      (both architectures)
#   DOCKER_BUILDKIT=1 docker build --platform linux/arm64 ...        (one, into docker's store)
#
# linux/amd64 and linux/arm64 from any build machine, without emulation:
# every stage that compiles runs on the build machine's own platform
# (--platform=$BUILDPLATFORM) and cross-compiles for TARGETARCH with Debian's
# cross gcc and musl-dev of the target (scripts/static-deps.sh --arch); the
# final stages only receive files (no RUN), so nothing of the target
# architecture runs while building.
#
# Your own plugins in the static image (like nginx's --add-module): put
# their source directories in the build context and name them, comma-
# separated; then add their names to API_PLUGINS when you run the image:
#   DOCKER_BUILDKIT=1 docker build --build-arg PLUGINS=examples/hello -t evapi-hello .
#
# Build with BuildKit: the legacy builder builds every stage, so even the
# static target would pull alpine and compile the shared libraries.  No
# "# syntax=" line: BuildKit would fetch that frontend image from a registry.
# Everything is compiled in Debian stages; the alpine stage only receives
# files, so it runs no apk (nor anything else).
# The stage named "static", not "scratch": BuildKit reserves that name.

# ---- toolchain: build tools only (no project file yet) -----------------------
FROM --platform=$BUILDPLATFORM docker.io/library/debian:bookworm-slim AS toolchain
# musl-tools: musl-gcc for both builds; autotools, cmake, perl, pkg-config:
# the dependencies' and evapi's build systems; dpkg-dev: `apt-get source` and
# dpkg-source for scripts/static-deps.sh; ca-certificates: the image's bundle;
# python3: scripts/gen-sbom.  The cross compiler and the target's musl-dev
# (another TARGETARCH) are installed by scripts/static-deps.sh itself.
RUN set -eux; \
	apt-get update; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		autoconf automake binutils ca-certificates cmake dpkg-dev gcc libc6-dev \
		libtool linux-libc-dev make musl-tools perl pkg-config python3; \
	rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the dependency script and its pins: a change anywhere else in the tree
# leaves the slow dependency layers below cached.
COPY scripts/static-deps.sh scripts/static-deps.versions scripts/

# ---- static musl libraries (scripts/static-deps.sh, a few minutes) -----------
# Its work dir (sources, object trees) and the apt lists it fetched are
# dropped in the same step: they would only bloat the layer.
# TARGETARCH (amd64, arm64) is set by BuildKit from --platform; without it,
# the build machine's own architecture.
FROM toolchain AS deps
ARG TARGETARCH
RUN STATIC_DEPS_WORK=/tmp/static-deps scripts/static-deps.sh \
		--arch "${TARGETARCH:-$(dpkg --print-architecture)}" /opt/static && \
	rm -rf /tmp/static-deps /var/lib/apt/lists/*

# ---- shared musl libraries of the same pinned sources, for the debug image ---
FROM toolchain AS deps-shared
ARG TARGETARCH
RUN STATIC_DEPS_WORK=/tmp/static-deps scripts/static-deps.sh \
		--arch "${TARGETARCH:-$(dpkg --print-architecture)}" --shared /opt/shared && \
	rm -rf /tmp/static-deps /var/lib/apt/lists/*

# ---- the static binary and the files of the scratch image --------------------
# VERSION/COMMIT/CREATED are baked into the binary (no .git in the context:
# empty values keep what the tree reports).  Declared after COPY and after
# the dependency stages, so a new commit only reruns this cheap step.
# SOURCE_DATE_EPOCH (the commit's date) makes the build reproducible: it is
# the build date evapi reports when CREATED is not given, and the SBOM's.
# The prefix names its target (lib/static-deps/host) and brings the matching
# toolchain; the binary runs here only when it is of this machine.
FROM deps AS build
COPY . /src
ARG VERSION=
ARG COMMIT=
ARG CREATED=
ARG PLUGINS=
ARG SOURCE_DATE_EPOCH=
ARG SOURCE=https://github.com/evapi/evapi
RUN set -eux; \
	host=$(cat /opt/static/lib/static-deps/host); \
	autoreconf -fi; \
	./configure --host="$host" --enable-static-binary --with-static-deps=/opt/static \
		${PLUGINS:+--with-plugins="$PLUGINS"}; \
	make -j"$(nproc)" ${VERSION:+VERSION="$VERSION"} ${COMMIT:+COMMIT="$COMMIT"} \
		${CREATED:+BUILD_DATE="$CREATED"}; \
	"/opt/static/bin/$host-strip" --strip-all -R .comment evapi; \
	if readelf -l evapi | grep -q 'program interpreter'; then \
		echo "evapi is not statically linked" >&2; exit 1; \
	fi; \
	echo "evapi: built on $(uname -m) for $host"; \
	readelf -h evapi | grep -E 'Machine:'; \
	if [ "${host%%-*}" = "$(uname -m)" ]; then ./evapi --version; fi; \
	mkdir -p /out/usr/share/evapi; \
	scripts/gen-sbom --arch "${host%%-*}" --source "$SOURCE" --indent 0 \
		--extra-plugins "$(sed -n 's/^EXTRA_PLUGIN_NAMES = //p' Makefile | tr -s ' ' ',')" \
		--version "${VERSION:-$(build-aux/git-version-gen .)}" ${COMMIT:+--commit "$COMMIT"} \
		-o /out/usr/share/evapi/sbom.cdx.json
# passwd/group: the runtime user by name for tools and libraries that look
# it up; the Debian CA bundle where the musl OpenSSL (--openssldir=/etc/ssl)
# and evapi's verify-full default look for it.
RUN set -eux; \
	mkdir -p /out/etc/ssl/certs; \
	printf 'evapi:x:10001:10001:evapi:/nonexistent:/nonexistent\n' >/out/etc/passwd; \
	printf 'evapi:x:10001:\n' >/out/etc/group; \
	cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt; \
	install -m 0755 evapi /out/evapi

# ---- the dynamic musl build for the debug image ------------------------------
# Installed under /usr/local (plugins in /usr/local/lib/evapi, mode 644, as
# the loader requires).  The libraries it needs, except musl's libc (alpine
# has it), go to the private /usr/local/lib/evapi-deps, reached through
# RUNPATH: alpine's own libssl.so.3 (apk's) is neither used nor shadowed,
# so the image runs the same libraries on any alpine patch release.
# `make install` regenerates core/build-info.c, so it gets the same
# VERSION/COMMIT/BUILD_DATE as `make` (or it would relink the defaults).  The
# loop copies the NEEDED closure of the binary and the plugins from
# /opt/shared, by soname, until a pass adds nothing.  /evapi links to the
# binary: both images share one HEALTHCHECK and ENTRYPOINT.
# The target's compiler and binutils come from /opt/shared/bin (named for
# --host); the binary runs here only when it is of this machine.  The SBOM
# of the same pins (built as shared libraries) goes in as well.  The
# account files are written whole here (alpine's root and nobody, plus
# evapi), so that the debug stage needs no RUN: nothing of the target runs.
FROM deps-shared AS build-debug
COPY . /src
ARG VERSION=
ARG COMMIT=
ARG CREATED=
ARG SOURCE_DATE_EPOCH=
ARG SOURCE=https://github.com/evapi/evapi
RUN set -eux; \
	host=$(cat /opt/shared/lib/static-deps/host); \
	export PATH="/opt/shared/bin:$PATH"; \
	autoreconf -fi; \
	PKG_CONFIG_LIBDIR=/opt/shared/lib/pkgconfig ./configure --host="$host" --prefix=/usr/local \
		LDFLAGS='-Wl,-rpath,/usr/local/lib/evapi-deps -Wl,-rpath-link,/opt/shared/lib'; \
	set -- ${VERSION:+VERSION="$VERSION"} ${COMMIT:+COMMIT="$COMMIT"} ${CREATED:+BUILD_DATE="$CREATED"}; \
	make -j"$(nproc)" "$@"; \
	make install-strip DESTDIR=/out "$@"; \
	if [ "${host%%-*}" = "$(uname -m)" ]; then \
		LD_LIBRARY_PATH=/opt/shared/lib /out/usr/local/sbin/evapi --version; \
	fi; \
	rm -rf /out/usr/local/include /out/usr/local/lib/pkgconfig /out/usr/local/share; \
	find /out -name '*.la' -delete; \
	deps=/out/usr/local/lib/evapi-deps; \
	mkdir -p "$deps"; \
	while :; do \
		new=0; \
		for lib in $(find /out -type f \( -name evapi -o -name '*.so*' \) -exec readelf -d {} + \
				| sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do \
			case $lib in libc.so) continue ;; esac; \
			test -e "$deps/$lib" && continue; \
			test -e "/opt/shared/lib/$lib" || { echo "no musl build of $lib" >&2; exit 1; }; \
			cp -L "/opt/shared/lib/$lib" "$deps/$lib"; \
			"$host-strip" --strip-unneeded "$deps/$lib"; \
			new=1; \
		done; \
		test "$new" = 0 && break; \
	done; \
	chmod 0644 "$deps"/*; \
	ln -s usr/local/sbin/evapi /out/evapi; \
	mkdir -p /out/etc /out/usr/share/evapi; \
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/:/sbin/nologin' \
		'evapi:x:10001:10001:evapi:/nonexistent:/sbin/nologin' >/out/etc/passwd; \
	printf '%s\n' 'root:x:0:root' 'nobody:x:65534:' 'evapi:x:10001:' >/out/etc/group; \
	scripts/gen-sbom --arch "${host%%-*}" --build dynamic --source "$SOURCE" --indent 0 \
		--version "${VERSION:-$(build-aux/git-version-gen .)}" ${COMMIT:+--commit "$COMMIT"} \
		-o /out/usr/share/evapi/sbom.cdx.json; \
	ls -lR /out/usr/local

# ---- debug target: alpine + the dynamic build ---------------------------------
FROM docker.io/library/alpine:3.20 AS debug
ARG VERSION=
ARG COMMIT=
ARG CREATED=
ARG SOURCE=https://github.com/evapi/evapi
LABEL org.opencontainers.image.title="evapi (debug)" \
      org.opencontainers.image.description="evapi dynamic build with plugin .so files, shell and wget" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.evapi.sbom="/usr/share/evapi/sbom.cdx.json"
COPY --from=build-debug /out/ /
USER 10001:10001
EXPOSE 8080
ENV PORT=8080 LOG_LEVEL=info ENVIRONMENT=production API_PLUGINS=health,ready,version
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/evapi", "--healthcheck"]
ENTRYPOINT ["/evapi"]

# ---- default target: the static binary in an empty image ---------------------
FROM scratch AS static
ARG VERSION=
ARG COMMIT=
ARG CREATED=
ARG SOURCE=https://github.com/evapi/evapi
LABEL org.opencontainers.image.title="evapi" \
      org.opencontainers.image.description="Small HTTP API server in C (libevent, json-c, libpq), static build" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.evapi.sbom="/usr/share/evapi/sbom.cdx.json"
COPY --from=build /out/ /
USER 10001:10001
EXPOSE 8080
ENV PORT=8080 LOG_LEVEL=info ENVIRONMENT=production API_PLUGINS=health,ready,version
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/evapi", "--healthcheck"]
ENTRYPOINT ["/evapi"]
