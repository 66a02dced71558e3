# Built from the static binary that `make build` puts in bin/ (no registry needed):
#   make build && docker build -f deploy/docker/homeplane-agent.Dockerfile -t homeplane/homeplane-agent:dev .
FROM scratch
COPY bin/homeplane-agent /homeplane-agent
# A volume mounted on the state directory takes this directory's owner.
COPY --chown=65534:65534 deploy/docker/agent-state/ /var/lib/homeplane-agent/
USER 65534:65534
ENTRYPOINT ["/homeplane-agent"]
