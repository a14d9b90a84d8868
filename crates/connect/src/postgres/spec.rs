//! [`PgSourceSpec`]: what a Postgres CDC source reads, parsed once from the
//! `WITH (...)` options and the table list of `CREATE SOURCE ... FROM POSTGRES`.
//!
//! Options (names case-insensitive, each at most once):
//!
//! | option | values | default |
//! | --- | --- | --- |
//! | `CONNECTION` | a libpq connection string (`host=... port=... user=... dbname=...`) | required |
//! | `PUBLICATION` | the name of a publication in that database | required |
//!
//! `FOR TABLES (public.customers, public.orders AS orders2)` (parsed by the SQL layer)
//! arrives as a list of [`TableSelection`]s: only those tables are read, under their
//! alias if they have one. Without it every table of the publication is read.
//!
//! This is pure: nothing here connects. Errors are Postgres-style [`SqlError`]s: an
//! unknown or repeated option `42601`, a bad value `22023`, something Eddy does not
//! support (yet) `0A000`, a table named twice `42712`.

use std::collections::BTreeSet;

use eddy_repr::{SqlError, SqlState};
use tokio_postgres::config::{Host, SslMode};

use crate::spec::{invalid_value, option_values};

/// One entry of `FOR TABLES (...)`: an upstream table and the name it gets in Eddy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableSelection {
    /// The upstream schema; `None` means `public`.
    pub schema: Option<String>,
    /// The upstream table name.
    pub name: String,
    /// The name in Eddy (`AS alias`); `None` keeps the upstream name.
    pub alias: Option<String>,
}

impl TableSelection {
    /// The upstream schema, `public` when none was written.
    pub fn schema_or_public(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// The name the table gets in Eddy.
    pub fn eddy_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// Everything a Postgres CDC source needs before it connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgSourceSpec {
    /// The libpq connection string, as written.
    pub connection: String,
    pub publication: String,
    /// `FOR TABLES (...)`; `None` reads every table of the publication.
    pub tables: Option<Vec<TableSelection>>,
}

/// The options [`PgSourceSpec::from_options`] knows, in the order of its hint.
const OPTIONS: [&str; 2] = ["CONNECTION", "PUBLICATION"];

impl PgSourceSpec {
    /// Parses the `WITH (name = value, ...)` options and the `FOR TABLES (...)` list of
    /// `CREATE SOURCE ... FROM POSTGRES`.
    pub fn from_options(
        options: &[(String, String)],
        tables: Option<Vec<TableSelection>>,
    ) -> Result<PgSourceSpec, SqlError> {
        let [connection, publication] = option_values(options, &OPTIONS, "")?;
        let connection = match connection.map(str::trim) {
            Some(c) if !c.is_empty() => c.to_string(),
            Some(c) => return Err(invalid_value("CONNECTION", c, "a connection string")),
            None => return Err(SqlError::syntax("option \"CONNECTION\" is required")),
        };
        parse_connection(&connection)?;
        let publication = match publication.map(str::trim) {
            Some(p) if !p.is_empty() => p.to_string(),
            Some(p) => return Err(invalid_value("PUBLICATION", p, "a publication name")),
            None => return Err(SqlError::syntax("option \"PUBLICATION\" is required")),
        };
        if let Some(tables) = &tables {
            if tables.is_empty() {
                return Err(SqlError::syntax("FOR TABLES needs at least one table"));
            }
            let mut upstream = BTreeSet::new();
            let mut names = BTreeSet::new();
            for t in tables {
                if !upstream.insert((t.schema_or_public(), t.name.as_str())) {
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_ALIAS,
                        format!(
                            "table \"{}.{}\" is listed more than once",
                            t.schema_or_public(),
                            t.name
                        ),
                    ));
                }
                if !names.insert(t.eddy_name()) {
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_ALIAS,
                        format!("table name \"{}\" specified more than once", t.eddy_name()),
                    )
                    .with_hint("Give one of the tables another name with AS."));
                }
            }
        }
        Ok(PgSourceSpec {
            connection,
            publication,
            tables,
        })
    }

    /// The parsed connection string (checked by [`PgSourceSpec::from_options`]).
    pub(crate) fn config(&self) -> Result<tokio_postgres::Config, SqlError> {
        parse_connection(&self.connection)
    }
}

/// Parses a libpq connection string, refusing what the source cannot do (yet).
fn parse_connection(connection: &str) -> Result<tokio_postgres::Config, SqlError> {
    let config: tokio_postgres::Config = connection.parse().map_err(|e| {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid value for option \"CONNECTION\": {e}"),
        )
        .with_hint("Expected a libpq connection string, such as 'host=db port=5432 user=replicator dbname=shop'.")
    })?;
    if config.get_hosts().len() > 1 {
        return Err(SqlError::unsupported(
            "a CONNECTION with more than one host",
        ));
    }
    if config.get_user().is_none() {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "the connection string needs a user",
        )
        .with_hint("Add user=... to CONNECTION."));
    }
    if matches!(config.get_ssl_mode(), SslMode::Require) {
        // FIXME(issue 8): TLS to the upstream; both connections (snapshot and
        // replication) need it, and the snapshot's tokio-postgres has no TLS yet.
        return Err(SqlError::unsupported("sslmode=require in CONNECTION"));
    }
    Ok(config)
}

/// Where to connect, from a parsed connection string.
pub(crate) struct Endpoint {
    /// A host name or address, or a Unix socket directory (starting with `/`).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
}

impl Endpoint {
    pub(crate) fn of(config: &tokio_postgres::Config) -> Endpoint {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.to_string_lossy().into_owned(),
            None => "localhost".to_string(),
        };
        let user = config.get_user().unwrap_or("postgres").to_string();
        Endpoint {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            dbname: config.get_dbname().unwrap_or(&user).to_string(),
            user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn table(schema: Option<&str>, name: &str, alias: Option<&str>) -> TableSelection {
        TableSelection {
            schema: schema.map(str::to_string),
            name: name.into(),
            alias: alias.map(str::to_string),
        }
    }

    #[test]
    fn options_parse_and_check() {
        let conn = "host=127.0.0.1 port=5433 user=replicator dbname=shop";
        let spec = PgSourceSpec::from_options(
            &opts(&[("connection", conn), ("Publication", "shop_pub")]),
            Some(vec![
                table(Some("public"), "customers", None),
                table(None, "orders", Some("orders2")),
            ]),
        )
        .unwrap();
        assert_eq!(spec.connection, conn);
        assert_eq!(spec.publication, "shop_pub");
        let endpoint = Endpoint::of(&spec.config().unwrap());
        assert_eq!(
            (
                endpoint.host.as_str(),
                endpoint.port,
                endpoint.dbname.as_str()
            ),
            ("127.0.0.1", 5433, "shop")
        );

        type Case = (
            Vec<(String, String)>,
            Option<Vec<TableSelection>>,
            &'static str,
            &'static str,
        );
        let cases: [Case; 7] = [
            (
                opts(&[("PUBLICATION", "p")]),
                None,
                "42601",
                "option \"CONNECTION\" is required",
            ),
            (
                opts(&[("CONNECTION", conn)]),
                None,
                "42601",
                "option \"PUBLICATION\" is required",
            ),
            (
                opts(&[("CONNECTION", conn), ("PUBLICATION", "p"), ("SLOT", "s")]),
                None,
                "42601",
                "option \"SLOT\" not recognized",
            ),
            (
                opts(&[
                    ("CONNECTION", "host=h port=notaport user=u"),
                    ("PUBLICATION", "p"),
                ]),
                None,
                "22023",
                "invalid value for option \"CONNECTION\"",
            ),
            (
                opts(&[
                    ("CONNECTION", "host=h user=u sslmode=require"),
                    ("PUBLICATION", "p"),
                ]),
                None,
                "0A000",
                "sslmode=require in CONNECTION is not supported",
            ),
            (
                opts(&[("CONNECTION", conn), ("PUBLICATION", "p")]),
                Some(vec![
                    table(None, "a", None),
                    table(Some("public"), "a", Some("b")),
                ]),
                "42712",
                "table \"public.a\" is listed more than once",
            ),
            (
                opts(&[("CONNECTION", conn), ("PUBLICATION", "p")]),
                Some(vec![
                    table(None, "a", None),
                    table(Some("s"), "b", Some("a")),
                ]),
                "42712",
                "table name \"a\" specified more than once",
            ),
        ];
        for (options, tables, code, message) in cases {
            let err = PgSourceSpec::from_options(&options, tables).unwrap_err();
            assert_eq!(err.sqlstate, code, "{err:?}");
            assert!(err.message.starts_with(message), "{err:?}");
        }
    }
}
