//! Test harness for Eddy's end-to-end tests.
//!
//! Everything here starts real processes on loopback and cleans up after itself:
//!
//! - [`Postgres`]: a private Postgres cluster (`initdb` into a temporary directory, a free
//!   port, `wal_level=logical`, `fsync=off`), used as the oracle for SQL semantics and as
//!   the upstream of CDC tests. Stopped (`pg_ctl stop -m immediate`) and deleted on drop.
//! - [`Eddy`]: the `eddy serve` binary on free ports with its own data directory, ready
//!   once `GET /health` answers 200; it can be killed with SIGKILL, stopped with SIGTERM
//!   and restarted on the same data directory. Its stdout and stderr go to a log file
//!   whose tail is printed when a test panics while the server is alive.
//! - [`Kafka`]: a private Apache Kafka 4.1 broker (one KRaft node from Maven Central's
//!   jars, cached outside the checkout), or the broker named by `EDDY_TEST_KAFKA`, with
//!   helpers to create topics, add partitions, produce and read back messages. Killed and
//!   deleted on drop.
//! - [`rows_as_strings`] and friends: results in Postgres' text format, sorted, so that
//!   Eddy and Postgres can be compared row for row.
//!
//! Invariants:
//! - Every port is picked by binding port 0 on 127.0.0.1; a start that loses the race for
//!   its port is retried on a new one, so several test binaries can run in parallel.
//! - Nothing listens anywhere but 127.0.0.1, and every wait is bounded by a timeout whose
//!   error says what was waited for and shows the server's log tail.
//! - Starting a server blocks the calling thread (it only spawns processes and polls), so
//!   it can be called from synchronous code and from inside a tokio test alike;
//!   `connect()` is async and needs a tokio runtime.

mod eddy;
mod kafka;
mod maven;
mod net;
mod postgres;
mod process;
mod rewrite;
mod rows;

pub use eddy::{Eddy, EddyConfig};
pub use kafka::{Isolation, Kafka, KafkaJars, ReadRecord, TestRecord, KAFKA_VERSION};
pub use maven::{pgjdbc_jars, PGJDBC_VERSION};
pub use net::{free_port, http_get, HttpResponse};
pub use postgres::{Cluster, PgBinaries, Postgres};
pub use process::is_root;
pub use rewrite::materialized_as_plain_views;
pub use rows::{diff_rows, format_rows, query_rows, rows_as_strings, sql_literal, TextRow};
