//! Discovery: what a publication holds, read from the upstream catalog before planning,
//! and the checks that make a source fail early with a clear error rather than later
//! in the stream.
//!
//! [`discover`] connects with the source's connection string and returns one
//! [`PgTable`] per published (and selected) table: its columns with Eddy types, its
//! primary key and its REPLICA IDENTITY. The coordinator creates one Eddy table from
//! each and keeps the list in its catalog; a restarted source is given the same list
//! (it is what the Eddy tables were made from), never a new discovery.
//!
//! Types: every type of the foundation maps to itself (with its modifier: `varchar(n)`,
//! `numeric(p,s)`, `char(n)`), domains map as their base type, `json` as `jsonb`, one-
//! dimensional arrays of bool/int2/int4/int8/oid/text as arrays, and everything else
//! (enums, other arrays, `money`, geometric types, ...) as text: never dropped.
//!
//! Checks, each with the SQLSTATE the user sees: the server cannot be reached or
//! refuses the login (`08001`, or the server's own code); `wal_level` is not `logical`
//! (`55000`); the user can neither replicate nor read a table (`42501`); the
//! publication does not exist (`42704`) or is empty (`55000`); a selected table is not
//! in it (`42P01`); a table has neither a primary key nor REPLICA IDENTITY FULL or
//! USING INDEX, so its updates and deletes cannot be matched (`55000`).

use eddy_repr::{ColumnType, RelationDesc, ScalarType, SqlError, SqlState};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls};

use super::spec::PgSourceSpec;

/// What identifies a row of a table in its Update and Delete messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaIdentity {
    /// The primary key (REPLICA IDENTITY DEFAULT with a primary key).
    PrimaryKey,
    /// The columns of a unique index (REPLICA IDENTITY USING INDEX).
    Index,
    /// The whole old row (REPLICA IDENTITY FULL).
    Full,
}

/// An upstream column: its name, its Eddy type, and the upstream type it came from
/// (so a changed type upstream can be told apart from an unchanged one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PgColumn {
    pub name: String,
    pub column_type: ColumnType,
    /// The upstream type (a domain's own OID, as Relation messages name it).
    pub type_oid: u32,
    pub typmod: i32,
    /// What upstream calls the type (`character varying(40)`, `mood`), for messages.
    pub type_name: String,
}

/// A published table as Eddy reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PgTable {
    /// The table's name in Eddy (its alias from `FOR TABLES`, else the upstream name).
    pub name: String,
    pub upstream_schema: String,
    pub upstream_name: String,
    /// The upstream table's OID: changes name it by OID.
    pub oid: u32,
    pub columns: Vec<PgColumn>,
    /// Positions in `columns` of the primary key (empty when it has none).
    pub primary_key: Vec<usize>,
    pub replica_identity: ReplicaIdentity,
    /// Positions in `columns` of the columns that identify a row in Update and Delete
    /// messages: the primary key, the identity index's columns, or (FULL without a
    /// primary key) every column, rows then being counted.
    pub identity_columns: Vec<usize>,
}

impl PgTable {
    /// The table's columns as a relation.
    pub fn desc(&self) -> RelationDesc {
        RelationDesc::new(
            self.columns.iter().map(|c| c.name.clone()).collect(),
            self.columns.iter().map(|c| c.column_type).collect(),
        )
    }

    /// `schema.name` upstream, quoted for SQL.
    pub(crate) fn quoted_upstream(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.upstream_schema),
            quote_ident(&self.upstream_name)
        )
    }

    /// `schema.name` upstream, for messages.
    pub fn upstream(&self) -> String {
        format!("{}.{}", self.upstream_schema, self.upstream_name)
    }
}

/// Reads the publication's tables and checks that they can be replicated.
pub async fn discover(spec: &PgSourceSpec) -> Result<Vec<PgTable>, SqlError> {
    let client = connect(spec).await?;
    check_server(&client).await?;
    let rows = client
        .query(
            "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)",
            &[&spec.publication],
        )
        .await
        .map_err(upstream_error)?;
    if !rows[0].get::<_, bool>(0) {
        return Err(SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("publication \"{}\" does not exist", spec.publication),
        )
        .with_hint(format!(
            "Create it upstream, for example with CREATE PUBLICATION {} FOR ALL TABLES.",
            quote_ident(&spec.publication)
        )));
    }
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relreplident::text, \
                    has_table_privilege(c.oid, 'SELECT') \
             FROM pg_publication_tables pt \
             JOIN pg_namespace n ON n.nspname = pt.schemaname \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename \
             WHERE pt.pubname = $1 ORDER BY 2, 3",
            &[&spec.publication],
        )
        .await
        .map_err(upstream_error)?;
    struct Published {
        oid: u32,
        schema: String,
        name: String,
        replident: String,
        readable: bool,
    }
    let published: Vec<Published> = rows
        .iter()
        .map(|r| Published {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            replident: r.get(3),
            readable: r.get(4),
        })
        .collect();
    // (published table, its Eddy name)
    let chosen: Vec<(&Published, String)> = match &spec.tables {
        None => published.iter().map(|p| (p, p.name.clone())).collect(),
        Some(selection) => selection
            .iter()
            .map(|s| {
                published
                    .iter()
                    .find(|p| p.schema == s.schema_or_public() && p.name == s.name)
                    .map(|p| (p, s.eddy_name().to_string()))
                    .ok_or_else(|| {
                        SqlError::new(
                            SqlState::UNDEFINED_TABLE,
                            format!(
                                "table \"{}.{}\" is not in publication \"{}\"",
                                s.schema_or_public(),
                                s.name,
                                spec.publication
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if chosen.is_empty() {
        return Err(SqlError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("publication \"{}\" has no tables", spec.publication),
        ));
    }
    if spec.tables.is_none() {
        let mut names: Vec<&str> = chosen.iter().map(|(_, n)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_ALIAS,
                format!(
                    "publication \"{}\" has two tables named \"{}\" in different schemas",
                    spec.publication, w[0]
                ),
            )
            .with_hint("Name the tables with FOR TABLES (schema.table AS name, ...)."));
        }
    }
    let mut tables = Vec::with_capacity(chosen.len());
    for (p, name) in chosen {
        if !p.readable {
            return Err(SqlError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for table {}.{}", p.schema, p.name),
            )
            .with_hint("The source's user needs SELECT on every table it reads."));
        }
        tables.push(describe(&client, p.oid, &p.schema, &p.name, &p.replident, name).await?);
    }
    Ok(tables)
}

/// Checks the server settings and the user's right to replicate.
async fn check_server(client: &Client) -> Result<(), SqlError> {
    let row = client
        .query_one(
            "SELECT current_setting('wal_level'), \
                    (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user), \
                    current_user::text",
            &[],
        )
        .await
        .map_err(upstream_error)?;
    let wal_level: String = row.get(0);
    if wal_level != "logical" {
        return Err(SqlError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("logical replication needs wal_level = logical, but the upstream has wal_level = {wal_level}"),
        )
        .with_hint("Run ALTER SYSTEM SET wal_level = logical upstream and restart Postgres."));
    }
    let can_replicate: Option<bool> = row.get(1);
    if can_replicate != Some(true) {
        let user: String = row.get(2);
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to replicate: role \"{user}\" has neither REPLICATION nor SUPERUSER"),
        )
        .with_hint(format!("Run ALTER ROLE {} WITH REPLICATION upstream.", quote_ident(&user))));
    }
    Ok(())
}

/// One table's columns, keys and replica identity.
async fn describe(
    client: &Client,
    oid: u32,
    schema: &str,
    upstream_name: &str,
    replident: &str,
    name: String,
) -> Result<PgTable, SqlError> {
    let rows = client
        .query(
            "SELECT a.attnum, a.attname::text, \
                    CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, \
                    CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
                    a.attnotnull, format_type(a.atttypid, a.atttypmod), \
                    a.atttypid, a.atttypmod \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(upstream_error)?;
    let mut attnums = Vec::with_capacity(rows.len());
    let mut columns = Vec::with_capacity(rows.len());
    for r in &rows {
        attnums.push(r.get::<_, i16>(0));
        let base_oid: u32 = r.get(2);
        let base_typmod: i32 = r.get(3);
        let not_null: bool = r.get(4);
        columns.push(PgColumn {
            name: r.get(1),
            column_type: scalar_type(base_oid, base_typmod).nullable(!not_null),
            type_oid: r.get(6),
            typmod: r.get(7),
            type_name: r.get(5),
        });
    }
    let positions = |keys: Vec<i16>| -> Vec<usize> {
        keys.iter()
            .filter_map(|k| attnums.iter().position(|a| a == k))
            .collect()
    };
    let index_columns = |primary: bool| async move {
        let sql = if primary {
            "SELECT unnest(indkey)::int2 FROM pg_index WHERE indrelid = $1 AND indisprimary"
        } else {
            "SELECT unnest(indkey)::int2 FROM pg_index WHERE indrelid = $1 AND indisreplident"
        };
        client
            .query(sql, &[&oid])
            .await
            .map(|rows| rows.iter().map(|r| r.get::<_, i16>(0)).collect::<Vec<_>>())
            .map_err(upstream_error)
    };
    let primary_key = positions(index_columns(true).await?);
    let upstream = format!("{schema}.{upstream_name}");
    let (replica_identity, identity_columns) = match replident {
        "f" if primary_key.is_empty() => (ReplicaIdentity::Full, (0..columns.len()).collect()),
        "f" => (ReplicaIdentity::Full, primary_key.clone()),
        "i" => (
            ReplicaIdentity::Index,
            positions(index_columns(false).await?),
        ),
        "d" if !primary_key.is_empty() => (ReplicaIdentity::PrimaryKey, primary_key.clone()),
        _ => {
            let setting = if replident == "n" {
                "NOTHING"
            } else {
                "DEFAULT"
            };
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "table \"{upstream}\" has no primary key and REPLICA IDENTITY {setting}: \
                     its updates and deletes cannot be matched to rows"
                ),
            )
            .with_hint(format!(
                "Add a primary key upstream, or run ALTER TABLE {} REPLICA IDENTITY FULL.",
                quote_ident(schema) + "." + &quote_ident(upstream_name)
            )));
        }
    };
    Ok(PgTable {
        name,
        upstream_schema: schema.to_string(),
        upstream_name: upstream_name.to_string(),
        oid,
        columns,
        primary_key,
        replica_identity,
        identity_columns,
    })
}

/// The Eddy type of an upstream type: the type itself where Eddy has it, else text.
pub(crate) fn scalar_type(oid: u32, typmod: i32) -> ScalarType {
    let modifier = (typmod >= 4).then(|| typmod - 4);
    match oid {
        // varchar(n), bpchar(n)
        1043 => ScalarType::Varchar {
            max_length: modifier.map(|m| m as u32),
        },
        1042 => ScalarType::Char {
            length: modifier.map(|m| m as u32),
        },
        1700 => {
            let (precision, scale) = match modifier {
                Some(m) => (
                    u8::try_from((m >> 16) & 0xffff).ok(),
                    u8::try_from(m & 0xffff).ok(),
                ),
                None => (None, None),
            };
            match (precision, scale) {
                (Some(p), Some(s)) => ScalarType::Numeric {
                    precision: Some(p),
                    scale: Some(s),
                },
                _ => ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
            }
        }
        // json
        114 => ScalarType::Jsonb,
        oid => ScalarType::from_oid(oid).unwrap_or(ScalarType::Text),
    }
}

/// A regular (not replication) connection, its connection task spawned on the current
/// runtime, with the session settings that make values print as Eddy reads them.
pub(crate) async fn connect(spec: &PgSourceSpec) -> Result<Client, SqlError> {
    let mut config = spec.config()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name("eddy");
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        if e.as_db_error().is_some() {
            upstream_error(e)
        } else {
            SqlError::new(
                SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                format!("cannot connect to the upstream postgres: {e}"),
            )
        }
    })?;
    tokio::spawn(async move {
        // An error surfaces on the client's next call.
        let _ = connection.await;
    });
    client
        .batch_execute(SESSION_SETTINGS)
        .await
        .map_err(upstream_error)?;
    Ok(client)
}

/// Settings under which the upstream prints values in the forms Eddy's parsers read.
pub(crate) const SESSION_SETTINGS: &str = "SET datestyle = 'ISO, MDY'; \
     SET intervalstyle = 'postgres'; SET extra_float_digits = 3; \
     SET bytea_output = 'hex'; SET timezone = 'UTC'";

/// The same settings as startup options of a replication connection.
pub(crate) const SESSION_OPTIONS: &str = "-c datestyle=ISO,MDY -c intervalstyle=postgres \
     -c extra_float_digits=3 -c bytea_output=hex -c timezone=UTC";

/// An error from the upstream, with its own SQLSTATE when it sent one.
pub(crate) fn upstream_error(e: tokio_postgres::Error) -> SqlError {
    match e.as_db_error() {
        Some(db) => {
            let state = SqlState::from_code(db.code().code()).unwrap_or(SqlState::INTERNAL_ERROR);
            let mut err = SqlError::new(state, format!("upstream postgres: {}", db.message()));
            if let Some(detail) = db.detail() {
                err = err.with_detail(detail);
            }
            if let Some(hint) = db.hint() {
                err = err.with_hint(hint);
            }
            err
        }
        None => SqlError::new(
            SqlState::CONNECTION_EXCEPTION,
            format!("upstream postgres: {e}"),
        ),
    }
}

/// `"name"` when it needs quotes, as Postgres' quote_ident.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_types_map_to_eddy_types() {
        assert_eq!(scalar_type(23, -1), ScalarType::Int32);
        assert_eq!(
            scalar_type(1043, 44),
            ScalarType::Varchar {
                max_length: Some(40)
            }
        );
        assert_eq!(
            scalar_type(1700, ((10 << 16) | 2) + 4),
            ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2)
            }
        );
        assert_eq!(scalar_type(2950, -1), ScalarType::Uuid);
        assert_eq!(scalar_type(1007, -1), ScalarType::Int32Array);
        // money, an enum (a user OID), a float8 array: text.
        for oid in [790, 16_500, 1022] {
            assert_eq!(scalar_type(oid, -1), ScalarType::Text);
        }
        assert_eq!(quote_ident("orders"), "orders");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
