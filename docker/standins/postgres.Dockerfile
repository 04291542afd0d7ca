# Stand-in for postgres:16, for a machine with no image registry. Debian bookworm ships
# PostgreSQL 15, not 16; what docker-compose.yml uses of the official image is the same:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the role and database on first start,
# the data lives in /var/lib/postgresql/data (a volume), port 5432, pg_isready on PATH, and the
# server runs as the unprivileged `postgres` user and stops fast on SIGINT.
FROM supportbot-standin/debian:bookworm
# As the official image does: no cluster from the package's postinst, the entrypoint makes one.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null \
    && sed -ri 's/#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/15/postgresql.conf.sample
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
RUN mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql && chmod 3777 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
