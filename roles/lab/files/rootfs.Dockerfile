# A Debian tree made by debootstrap, as an image. Nothing is pulled: the tree is
# the whole image.
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8
CMD ["/bin/bash"]
