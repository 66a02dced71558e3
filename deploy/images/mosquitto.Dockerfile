# Mosquitto 2.0 from Debian's packages on the mmdebstrap base, with the
# Homeplane plugin that `make mosquitto-plugin` builds on the host against
# the same Debian release (make images). The packages are a layer of their
# own so that the shared base image, and its build, stay as they are.
FROM homeplane-local/debian-base:bookworm
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto libcurl4 libcjson1 >/dev/null && \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY bin/homeplane_auth.so /usr/lib/homeplane/homeplane_auth.so
COPY deploy/mosquitto/mosquitto.conf /etc/mosquitto/homeplane.conf
# Started as someone else, mosquitto does not switch users; the secrets it
# reads must be readable by this user.
USER mosquitto
EXPOSE 1883
ENTRYPOINT ["/usr/sbin/mosquitto"]
CMD ["-c", "/etc/mosquitto/homeplane.conf"]
