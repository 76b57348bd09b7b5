# dongmul as a FROM scratch image: the static musl binary and a CA bundle
# (for outbound TLS: SMTP, Kakao/Google sign-in), nothing else.
#
#   docker build -t dongmul .
#   docker run -p 8080:8080 -v dongmul-data:/data dongmul
#
# Build stage: Debian with the same tools and the same vendor scripts the
# Makefile uses (pinned Debian source packages and the web app's npm
# package, verified by sha256).
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates gcc make musl-tools tcl patch xz-utils bzip2 git npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile schema.sql dongmul.c ./
COPY vendor/ vendor/
COPY src/ src/
COPY web/ web/
# only the static binary: the tests' tools are not needed to build it
RUN sh vendor/fetch.sh build/vendor && make build/static/dongmul

FROM scratch
COPY --from=build /src/build/static/dongmul /dongmul
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
VOLUME /data
EXPOSE 8080 8443
ENV DONGMUL_DATA=/data DONGMUL_HTTP=0.0.0.0:8080
ENTRYPOINT ["/dongmul"]
CMD ["serve"]
