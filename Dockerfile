# livy-server image: the server binary on top of the official Spark image,
# whose spark-submit (and JVM) the server runs for every application.
# Build: docker build -t livy-server:0.1.0 .   (see charts/livy-server/README.md)

# --- build -------------------------------------------------------------------
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The driver sources embedded with include_str! live under src/; tests,
# charts and hack/ are not needed to build the binary.
RUN cargo build --release --locked --bin livy-server --bin livy-supervise \
 && cp target/release/livy-server target/release/livy-supervise /

# --- run ---------------------------------------------------------------------
FROM apache/spark:4.0.1
USER root
# The small supervisor started for every application, beside the server.
COPY --from=build /livy-server /livy-supervise /usr/local/bin/
RUN mkdir -p /var/lib/livy /etc/livy && chown -R 185:185 /var/lib/livy
ENV SPARK_HOME=/opt/spark \
    LIVY_CONF_DIR=/etc/livy
# The Spark image's non-root user.
USER 185
EXPOSE 8998 10000
ENTRYPOINT ["/usr/local/bin/livy-server"]
CMD ["serve"]
