# cdc-sentinel: one static (musl) binary in an empty image, running as a numeric non-root user.
#
#   docker build -t cdc-sentinel .
#   docker run -d --name cdc-sentinel -p 10150:10150 -v cdc-sentinel-state:/var/lib/cdc-sentinel \
#     cdc-sentinel run --connect-url http://connect:8083
#
# Offline builds: if the build context has a vendor/ directory (`cargo vendor vendor/`), crates
# are taken from it and the build needs no network (`--network none`); otherwise cargo fetches
# them from crates.io. tests/container/run.sh builds it that way and checks the result.
# The image's agent is built without the `demo` feature: it holds no simulator code.

FROM docker.io/library/rust:1.95-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG TARGET=x86_64-unknown-linux-musl
# Compiled into the binary (cdc_sentinel_build_info{revision=...}).
ARG CDC_SENTINEL_REVISION=unknown
# The upstream image lacks the musl target and musl-gcc (ring, the TLS crate, compiles C for the
# target; so do librdkafka, OpenSSL and zlib, built from source and linked statically for the
# Kafka state store, which also need make, a perl with IPC::Cmd for OpenSSL's Configure, and a
# C++ compiler that librdkafka's configure insists on finding although it builds only C);
# a builder image that already has all of them needs no network here.
# hadolint ignore=DL3008
RUN if ! command -v musl-gcc >/dev/null || ! command -v make >/dev/null || ! command -v c++ >/dev/null \
       || ! perl -MIPC::Cmd -e1 2>/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends musl-tools make perl g++ \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && { rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"; }
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
# .dockerignore lets through only what the build needs (an allowlist).
COPY . .
RUN if [ -d vendor ]; then \
      mkdir -p .cargo \
      && printf '[source.crates-io]\nreplace-with = "vendored"\n\n[source.vendored]\ndirectory = "vendor"\n' \
         > .cargo/config.toml; \
    fi \
    && cargo build --release --locked --target "$TARGET" --bin cdc-sentinel --no-default-features \
    && install -D -m 0755 "target/$TARGET/release/cdc-sentinel" /out/cdc-sentinel \
    && install -d -m 0700 -o 65532 -g 65532 /out/var/lib/cdc-sentinel

FROM scratch
ARG VERSION=0.1.0
ARG CDC_SENTINEL_REVISION=unknown
LABEL org.opencontainers.image.title="cdc-sentinel" \
      org.opencontainers.image.description="Holds Kafka Connect / Debezium connectors while their database is down and resumes them when it is back" \
      org.opencontainers.image.source="https://github.com/cdc-sentinel/cdc-sentinel" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$CDC_SENTINEL_REVISION" \
      org.opencontainers.image.licenses="Apache-2.0"
# The binary plus the state directory, owned by 65532 so a fresh named volume is writable.
COPY --from=build /out/ /
# The state file records which connectors the agent holds: keep it on a volume so a restarted
# container resumes what it paused instead of leaving it paused forever.
ENV CDC_SENTINEL_STATE_FILE=/var/lib/cdc-sentinel/state.json \
    CDC_SENTINEL_WEB_LISTEN_ADDRESS=:10150
VOLUME ["/var/lib/cdc-sentinel"]
USER 65532:65532
EXPOSE 10150
# No shell or curl in the image: the binary asks itself (GET /readyz; 503 when Kafka Connect has
# not answered for three poll intervals), on the port of CDC_SENTINEL_WEB_LISTEN_ADDRESS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/cdc-sentinel", "healthcheck"]
ENTRYPOINT ["/cdc-sentinel"]
CMD ["run"]
