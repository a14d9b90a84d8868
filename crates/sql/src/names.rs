//! Identifiers and object names. Unquoted identifiers fold to lowercase; quoted ones
//! keep their case, as in Postgres.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use eddy_repr::{SqlError, SqlState};

/// The schema user objects live in.
pub const PUBLIC_SCHEMA: &str = "public";
/// The schema of builtin relations and functions.
pub const PG_CATALOG_SCHEMA: &str = "pg_catalog";

/// An identifier as the catalog sees it.
pub fn normalize_ident(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The parts of a dotted name, each normalized.
pub fn object_name_parts(name: &ObjectName) -> Result<Vec<String>, SqlError> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(normalize_ident(ident)),
            ObjectNamePart::Function(_) => Err(SqlError::syntax(format!(
                "syntax error at or near \"{name}\""
            ))),
        })
        .collect()
}

/// A relation name: an optional schema and the item name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemName {
    pub schema: Option<String>,
    pub item: String,
}

impl std::fmt::Display for ItemName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.item),
            None => write!(f, "{}", self.item),
        }
    }
}

/// Splits `[database.][schema.]name`. A database other than the session's is a
/// cross-database reference, which Postgres does not allow either.
pub fn item_name(name: &ObjectName, database: &str) -> Result<ItemName, SqlError> {
    let parts = object_name_parts(name)?;
    match parts.as_slice() {
        [item] => Ok(ItemName {
            schema: None,
            item: item.clone(),
        }),
        [schema, item] => Ok(ItemName {
            schema: Some(schema.clone()),
            item: item.clone(),
        }),
        [db, schema, item] => {
            if db != database {
                return Err(SqlError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("cross-database references are not implemented: \"{name}\""),
                ));
            }
            Ok(ItemName {
                schema: Some(schema.clone()),
                item: item.clone(),
            })
        }
        _ => Err(SqlError::syntax(format!(
            "improper relation name (too many dotted names): {name}"
        ))),
    }
}

/// The schemas of builtin relations: nothing can be created in them.
pub const SYSTEM_SCHEMAS: [&str; 2] = [PG_CATALOG_SCHEMA, "information_schema"];

/// The name of a new user object: `(schema, item)`, in `public` when unqualified. The
/// schema must exist and not be a system schema.
pub fn new_item_name(
    name: &ObjectName,
    database: &str,
    catalog: &dyn crate::Catalog,
) -> Result<(String, String), SqlError> {
    let name = item_name(name, database)?;
    let schema = name.schema.unwrap_or_else(|| PUBLIC_SCHEMA.to_string());
    if SYSTEM_SCHEMAS.contains(&schema.as_str()) {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to create \"{schema}.{}\"", name.item),
        )
        .with_detail("System catalog modifications are currently disallowed."));
    }
    check_schema_for_new_item(&schema, catalog)?;
    Ok((schema, name.item))
}

/// Refuses to create anything in a system schema or in one that does not exist.
pub fn check_schema_for_new_item(
    schema: &str,
    catalog: &dyn crate::Catalog,
) -> Result<(), SqlError> {
    if SYSTEM_SCHEMAS.contains(&schema) {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("permission denied for schema {schema}"),
        ));
    }
    if !catalog.schema_exists(schema) {
        return Err(SqlError::new(
            SqlState::INVALID_SCHEMA_NAME,
            format!("schema \"{schema}\" does not exist"),
        ));
    }
    Ok(())
}
