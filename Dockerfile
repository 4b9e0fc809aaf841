# syntax=docker/dockerfile:1
#
# auth0-mgmt-webhooks in a small image: built with the locked dependencies, run as a non-root
# user from a distroless image (glibc and CA certificates, no shell, no package manager). TLS
# is rustls with its own root certificates, so nothing else is needed at run time.
#
#   docker build -t registry.example.com/auth0-mgmt-webhooks:0.1.0 .
#   docker run --rm --env-file acme.env -v auth0-acme:/state registry.example.com/auth0-mgmt-webhooks:0.1.0 check
#   docker run --rm --env-file acme.env -v auth0-acme:/state registry.example.com/auth0-mgmt-webhooks:0.1.0 run
#
# The image's command is `run`; its state is /state/state.json (STATE_FILE), on a volume so
# that the checkpoint outlives the container. A named volume (auth0-acme above) starts as a
# copy of the image's /state, owned by the image's user. A folder of the host mounted there
# instead (-v /var/lib/auth0-acme:/state) keeps its own owner, and the runs, as uid 65532,
# must be able to write it:
#
#   sudo install -d -m 0700 -o 65532 -g 65532 /var/lib/auth0-acme
#
# The env file: examples/deploy/auth0-mgmt-webhooks.env, without its STATE_FILE line (the
# image sets /state/state.json). `--env-file` takes each line's value as written, quotes
# included, unlike a shell or systemd: write values bare (AUTH0_DOMAIN=acme.eu.auth0.com, not
# AUTH0_DOMAIN="acme.eu.auth0.com"). The secret as a file, readable by uid 65532:
#
#   sudo install -m 0600 -o 65532 -g 65532 /dev/null /etc/auth0-mgmt-webhooks/acme-client-secret.docker
#   docker run --rm --env-file acme.env -v auth0-acme:/state \
#     -v /etc/auth0-mgmt-webhooks/acme-client-secret.docker:/run/secrets/auth0-client-secret:ro \
#     -e AUTH0_CLIENT_SECRET_FILE=/run/secrets/auth0-client-secret \
#     registry.example.com/auth0-mgmt-webhooks:0.1.0 check

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The registry and target folders are cached between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/auth0-mgmt-webhooks /out/auth0-mgmt-webhooks \
    && install -d -m 0700 /out/state

FROM gcr.io/distroless/cc-debian12:nonroot
# Keep VERSION equal to Cargo.toml's version (a test compares them).
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="auth0-mgmt-webhooks" \
      org.opencontainers.image.description="Forward Auth0 Management API audit logs to a webhook, from cron, without ever losing one" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/auth0-mgmt-webhooks /usr/local/bin/auth0-mgmt-webhooks
# Owned by the image's user, so a fresh volume mounted here is writable by it.
COPY --from=build --chown=65532:65532 /out/state /state
# distroless's "nonroot" user, by number so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENV STATE_FILE=/state/state.json
ENTRYPOINT ["/usr/local/bin/auth0-mgmt-webhooks"]
CMD ["run"]
