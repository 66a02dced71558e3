# Built from the static binary that `make build` puts in bin/ (no registry needed):
#   make build && docker build -f deploy/docker/homeplane-agent.Dockerfile -t homeplane/homeplane-agent:dev .
FROM scratch
COPY bin/homeplane-agent /homeplane-agent
USER 65534:65534
ENTRYPOINT ["/homeplane-agent"]
