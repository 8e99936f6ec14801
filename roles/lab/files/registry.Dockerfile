# The Docker Distribution registry from Debian's docker-registry package, on the
# lab's own Debian base image: nothing comes from Docker Hub.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker-registry \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    # The container runs as root with every capability dropped, so root must own
    # the data directory to write to it without CAP_DAC_OVERRIDE.
    && install -d -o root -g root -m 0700 /var/lib/docker-registry
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
