# The large-object agent (`s3-yara-scan poll`) for ECS Fargate: the statically linked binary
# that scripts/build-agent-image builds, on distroless's static base (CA certificates, /tmp,
# a nonroot user; no shell, no package manager, no libc). Objects over MAX_OBJECT_SIZE are
# spooled to /tmp, which is the task's ephemeral storage (up to 200 GiB), and scanned through
# a memory map. The task definition gives the command and the settings (template.yaml).
FROM gcr.io/distroless/static-debian12:nonroot
COPY s3-yara-scan /usr/local/bin/s3-yara-scan
ENV SPOOL_DIR=/tmp
USER nonroot
ENTRYPOINT ["/usr/local/bin/s3-yara-scan"]
CMD ["poll", "--help"]
