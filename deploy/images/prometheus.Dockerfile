# Prometheus from Debian's packages on the mmdebstrap base, for machines
# without a registry (make images); runs as nobody like the official image.
FROM homeplane-local/debian-base:bookworm
RUN mkdir -p /prometheus && chown 65534:65534 /prometheus
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
