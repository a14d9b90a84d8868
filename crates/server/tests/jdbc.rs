//! The Postgres JDBC driver (pgjdbc, from Maven Central like the Kafka broker): an
//! application's statements (DDL, a batched prepared INSERT, generated keys from a
//! serial column, numeric results, a rolled-back transaction, an error's SQLSTATE) and
//! the `DatabaseMetaData` calls JDBC tools make (`getTables`, `getColumns`,
//! `getSchemas`, `getPrimaryKeys`, `getIndexInfo`, `getTypeInfo`, `getImportedKeys`,
//! `getSQLKeywords`), run by `tests/jdbc/JdbcProbe.java`.

mod common;

use std::path::Path;
use std::process::Command;

use common::run_command as run;

#[test]
fn pgjdbc_application_and_metadata() {
    let jars = eddy_testkit::pgjdbc_jars().expect("the pgjdbc jars");
    let classpath = format!("{}/*", jars.display());
    let classes = tempfile::tempdir().expect("tempdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/jdbc/JdbcProbe.java");
    run(
        Command::new("javac")
            .args(["-cp", &classpath, "-d"])
            .arg(classes.path())
            .arg(&source),
        "javac",
    );
    let eddy = common::start_eddy(1);
    let out = run(
        Command::new("java")
            .args(["-XX:TieredStopAtLevel=1", "-cp"])
            .arg(format!("{classpath}:{}", classes.path().display()))
            .arg("JdbcProbe")
            .arg(eddy.pg_port().to_string()),
        "java JdbcProbe",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "OK ddl",
            "OK batch insert 5 statements, 5 rows",
            "OK generated keys id=6",
            "OK aggregate 6 12.50",
            "OK view u1,u2,u3,u4",
            "OK rollback 0",
            "FAIL error: 22012 ERROR: division by zero",
            "OK getTables good,pairs,users",
            // `serial`, as Postgres says: pgjdbc finds the nextval default in pg_attrdef.
            "OK getColumns id:serial:NO,name:text:NO,score:numeric:YES",
            "OK getSchemas information_schema,pg_catalog,public",
            // pgjdbc reads key columns with field access on the records of a
            // set-returning function (`(information_schema._pg_expandarray(i.indkey)).n`),
            // from a subquery's record column (`(result.keys).x`), and with
            // `pg_get_indexdef(index, k, false)` and `indoption[k - 1] & 1`. Postgres 15
            // prints the same lines for this probe.
            "OK getPrimaryKeys id",
            "OK getPrimaryKeys composite b:1:pairs_pkey,a:2:pairs_pkey",
            "OK getIndexInfo pairs_pkey:b:1:unique:A,pairs_pkey:a:2:unique:A,\
             pairs_c_a:c:1:nonunique:A,pairs_c_a:a:2:nonunique:A,\
             users_name:name:1:unique:A,users_pkey:id:1:unique:A",
            // What DBeaver and Metabase also read when they connect: the type map
            // (`typinput = 'array_in'::regproc` marks arrays), foreign keys (none:
            // Eddy refuses REFERENCES), keywords (`pg_get_keywords()`), every schema's
            // columns.
            "OK getTypeInfo int4:4,int8:-5,text:12,numeric:2,timestamptz:93,_int4:2003,_text:2003",
            "OK getImportedKeys |",
            "OK getSQLKeywords true true false",
            "OK getColumns everywhere id,name,score",
        ],
        "{out}"
    );
}
