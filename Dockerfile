FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin eddy

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/eddy /usr/local/bin/eddy
EXPOSE 6875 6876
ENTRYPOINT ["eddy"]
CMD ["serve", "--pg-addr", "0.0.0.0:6875", "--http-addr", "0.0.0.0:6876"]
