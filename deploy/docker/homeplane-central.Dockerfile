# Built from the static binary that `make build` puts in bin/ (no registry needed):
#   make build && docker build -f deploy/docker/homeplane-central.Dockerfile -t homeplane/homeplane-central:dev .
FROM scratch
COPY bin/homeplane-central /homeplane-central
USER 65534:65534
ENTRYPOINT ["/homeplane-central"]
