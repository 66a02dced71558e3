# Built from the static binary that `make build` puts in bin/ (no registry needed):
#   make build && docker build -f deploy/docker/hasim.Dockerfile -t homeplane/hasim:dev .
FROM scratch
COPY bin/hasim /hasim
USER 65534:65534
ENTRYPOINT ["/hasim"]
