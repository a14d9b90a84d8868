// Drives Eddy through the Postgres JDBC driver (pgjdbc) the way an application and a
// JDBC tool (DBeaver, Metabase) do, printing one line per step: `OK name result` or
// `FAIL name: SQLSTATE message`. crates/server/tests/jdbc.rs compiles and runs it, and
// compares the lines with what it expects.
import java.math.BigDecimal;
import java.sql.*;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

public class JdbcProbe {
    static void step(String name, Callable<Object> f) {
        try {
            Object result = f.call();
            System.out.println("OK " + name + (result == null ? "" : " " + result));
        } catch (SQLException e) {
            System.out.println("FAIL " + name + ": " + e.getSQLState() + " " + e.getMessage().split("\n")[0]);
        } catch (Exception e) {
            System.out.println("FAIL " + name + ": " + e);
        }
    }

    static String column(ResultSet r, String column) throws SQLException {
        List<String> values = new ArrayList<>();
        while (r.next()) {
            values.add(r.getString(column));
        }
        return String.join(",", values);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/eddy";
        try (Connection c = DriverManager.getConnection(url, "eddy", "")) {
            Statement s = c.createStatement();
            step("ddl", () -> {
                s.execute("CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, score numeric(6,2))");
                s.execute("CREATE MATERIALIZED VIEW good AS SELECT name, score FROM users WHERE score > 1");
                s.execute("CREATE TABLE pairs (a int, b text, c int, PRIMARY KEY (b, a))");
                s.execute("CREATE INDEX pairs_c_a ON pairs (c, a)");
                s.execute("CREATE UNIQUE INDEX users_name ON users (name)");
                return null;
            });
            step("batch insert", () -> {
                PreparedStatement p = c.prepareStatement("INSERT INTO users (name, score) VALUES (?, ?)");
                for (int i = 0; i < 5; i++) {
                    p.setString(1, "u" + i);
                    p.setBigDecimal(2, new BigDecimal(i + ".50"));
                    p.addBatch();
                }
                int[] counts = p.executeBatch();
                return counts.length + " statements, " + java.util.Arrays.stream(counts).sum() + " rows";
            });
            step("generated keys", () -> {
                PreparedStatement p = c.prepareStatement(
                    "INSERT INTO users (name) VALUES (?)", Statement.RETURN_GENERATED_KEYS);
                p.setString(1, "k");
                p.executeUpdate();
                ResultSet r = p.getGeneratedKeys();
                r.next();
                return "id=" + r.getInt("id");
            });
            step("aggregate", () -> {
                ResultSet r = s.executeQuery("SELECT count(*), sum(score) FROM users");
                r.next();
                return r.getLong(1) + " " + r.getBigDecimal(2);
            });
            step("view", () -> column(s.executeQuery("SELECT name FROM good ORDER BY name"), "name"));
            step("rollback", () -> {
                c.setAutoCommit(false);
                s.execute("INSERT INTO users (name) VALUES ('gone')");
                c.rollback();
                c.setAutoCommit(true);
                return column(s.executeQuery("SELECT count(*) AS n FROM users WHERE name = 'gone'"), "n");
            });
            step("error", () -> s.executeQuery("SELECT 1 / 0"));
            DatabaseMetaData m = c.getMetaData();
            step("getTables", () -> column(
                m.getTables(null, "public", "%", new String[] {"TABLE", "VIEW", "MATERIALIZED VIEW"}),
                "TABLE_NAME"));
            step("getColumns", () -> {
                ResultSet r = m.getColumns(null, "public", "users", "%");
                List<String> columns = new ArrayList<>();
                while (r.next()) {
                    columns.add(r.getString("COLUMN_NAME") + ":" + r.getString("TYPE_NAME") + ":"
                        + r.getString("IS_NULLABLE"));
                }
                return String.join(",", columns);
            });
            step("getSchemas", () -> column(m.getSchemas(), "TABLE_SCHEM"));
            step("getPrimaryKeys", () -> column(m.getPrimaryKeys(null, "public", "users"), "COLUMN_NAME"));
            step("getPrimaryKeys composite", () -> {
                ResultSet r = m.getPrimaryKeys(null, "public", "pairs");
                List<String> keys = new ArrayList<>();
                while (r.next()) {
                    keys.add(r.getString("COLUMN_NAME") + ":" + r.getInt("KEY_SEQ") + ":" + r.getString("PK_NAME"));
                }
                return String.join(",", keys);
            });
            step("getIndexInfo", () -> {
                List<String> indexes = new ArrayList<>();
                for (String table : new String[] {"pairs", "users"}) {
                    ResultSet r = m.getIndexInfo(null, "public", table, false, false);
                    while (r.next()) {
                        indexes.add(r.getString("INDEX_NAME") + ":" + r.getString("COLUMN_NAME") + ":"
                            + r.getInt("ORDINAL_POSITION") + ":" + (r.getBoolean("NON_UNIQUE") ? "nonunique" : "unique")
                            + ":" + r.getString("ASC_OR_DESC"));
                    }
                }
                return String.join(",", indexes);
            });
            // What DBeaver and Metabase also read when they connect.
            step("getTypeInfo", () -> {
                ResultSet r = m.getTypeInfo();
                java.util.Map<String, Integer> types = new java.util.TreeMap<>();
                while (r.next()) {
                    types.put(r.getString("TYPE_NAME"), r.getInt("DATA_TYPE"));
                }
                List<String> shown = new ArrayList<>();
                for (String t : new String[] {"int4", "int8", "text", "numeric", "timestamptz", "_int4", "_text"}) {
                    shown.add(t + ":" + types.get(t));
                }
                return String.join(",", shown);
            });
            step("getImportedKeys", () -> column(m.getImportedKeys(null, "public", "users"), "FKCOLUMN_NAME")
                + "|" + column(m.getExportedKeys(null, "public", "users"), "FKCOLUMN_NAME"));
            step("getSQLKeywords", () -> {
                List<String> words = java.util.Arrays.asList(m.getSQLKeywords().split(","));
                return words.contains("returning") + " " + words.contains("ilike") + " " + words.contains("select");
            });
            step("getColumns everywhere", () -> {
                ResultSet r = m.getColumns(null, null, "users", "%");
                return column(r, "COLUMN_NAME");
            });
        }
    }
}
