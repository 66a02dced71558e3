# Built from the static binary that `make build` puts in bin/ (no registry needed):
#   make build && docker build -f deploy/docker/hasim.Dockerfile -t homeplane/hasim:dev .
#
# Like Home Assistant's own image, it keeps its state in /config: mount a
# volume there (the agent's managed mode does) and a re-created container
# accepts the same tokens and shows the same states. /config belongs to the
# user the simulator runs as, so a fresh volume copied from it is writable.
FROM scratch
COPY bin/hasim /hasim
COPY --chown=65534:65534 deploy/docker/hasim-config /config
ENV HOMEPLANE_HASIM_ADDR=0.0.0.0:8123 HOMEPLANE_HASIM_CONFIG_DIR=/config
USER 65534:65534
VOLUME /config
EXPOSE 8123
ENTRYPOINT ["/hasim"]
