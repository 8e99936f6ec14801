# A Debian image that boots systemd as PID 1, for molecule targets. It needs the
# container options documented in the lab role's README, not --privileged.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PACKAGES="systemd systemd-sysv"
ENV container=docker
RUN apt-get update \
    && apt-get install -y --no-install-recommends ${PACKAGES} \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    # Units that only make sense on real hardware keep the system "degraded".
    && systemctl mask getty.target console-getty.service systemd-udevd.service \
        systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount \
        sys-kernel-tracing.mount dev-hugepages.mount systemd-firstboot.service
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
