# PostgreSQL from Debian's packages on the mmdebstrap base, for machines
# without a registry (make images). compose.yaml uses the official image
# otherwise; the entrypoint honours the same variables.
FROM homeplane-local/debian-base:bookworm
COPY deploy/images/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
