//! Views directories: `eddy serve --views DIR` and `eddy apply DIR`.
//!
//! Both read the directory's `.sql` files and send them as one `APPLY FILES`
//! statement: the coordinator plans how to move the catalog to what the files define
//! (create, replace blue/green, unchanged, seed data once, drop with `--prune`), checks
//! the whole plan, and applies it (see the coordinator's `sequence/apply.rs`).
//!
//! - `--views DIR` applies the directory at start. A directory that cannot be applied
//!   changes nothing; the server serves the last good catalog, and `/health` answers
//!   503 with the file, line and error until a restart with fixed files.
//! - `--watch` applies it again whenever a file changes.
//! - `eddy apply DIR` prints the plan (terraform-style), asks before applying (unless
//!   `--yes`), and applies it over pgwire against a running server.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use tracing::{info, warn};

/// The `.sql` files of `dir`, by name: `(file name, contents)`.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("could not read the views directory {}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        files.push((name, text));
    }
    files.sort();
    Ok(files)
}

/// The `APPLY FILES` statement for `files`.
fn apply_statement(files: Vec<(String, String)>, dry_run: bool, prune: bool, hold: bool) -> String {
    eddy_sql::Apply {
        files,
        dry_run,
        prune,
        hold,
    }
    .to_string()
}

/// One line of a plan: `+ create materialized view revenue  (revenue.sql:3)`.
fn plan_line(row: &[String]) -> String {
    let [action, kind, name, detail, location] = row else {
        return row.join(" ");
    };
    let verb = detail.split(' ').next().unwrap_or_default();
    let rest = detail.strip_prefix(verb).unwrap_or_default().trim();
    let mut line = format!("{action} {verb} {kind} {name}");
    if !rest.is_empty() {
        line.push(' ');
        line.push_str(rest);
    }
    if !location.is_empty() {
        line.push_str(&format!("  ({location})"));
    }
    line
}

/// `N to create, N to replace, ...`, and whether anything changes.
fn summary(rows: &[Vec<String>]) -> (String, bool) {
    let count = |symbol: &str| rows.iter().filter(|r| r[0] == symbol).count();
    let (add, change, drop, same) = (count("+"), count("~"), count("-"), count("="));
    (
        format!(
            "Plan: {add} to add, {change} to replace or rebuild, {drop} to drop, {same} unchanged."
        ),
        add + change + drop > 0,
    )
}

/// `--views DIR` at start: applies the directory through the in-process client.
/// `Ok(Err(message))` when it could not be applied (nothing of it was).
pub async fn apply_dir(
    client: &eddy_coord::Client,
    dir: &Path,
) -> anyhow::Result<Result<(), String>> {
    let files = read_dir(dir)?;
    let session = client
        .open_session("eddy", "eddy", vec![])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sql = apply_statement(files, false, false, false);
    let results = client.execute_simple(&session, &sql).await;
    client.close_session(session).await;
    for result in results {
        match result {
            Ok(eddy_coord::ExecuteResponse::Rows { rows, .. }) => {
                for row in rows {
                    let row: Vec<String> = row
                        .unpack()
                        .iter()
                        .map(|d| match d {
                            eddy_repr::Datum::String(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .collect();
                    if row[0] != "=" {
                        info!(step = %plan_line(&row), "views directory");
                    }
                }
                info!(dir = %dir.display(), "views directory applied");
            }
            Ok(_) => {}
            Err(e) => {
                let message = e.to_string();
                warn!(dir = %dir.display(), error = %message, "views directory not applied; serving the last good catalog");
                return Ok(Err(message));
            }
        }
    }
    Ok(Ok(()))
}

/// `--watch`: applies the directory again whenever its files change (checked every
/// second), through the same plan as at start; `/health` says whether the last attempt
/// failed, and why.
pub async fn watch(
    client: eddy_coord::Client,
    dir: std::path::PathBuf,
    health: std::sync::Arc<crate::http::Health>,
) {
    let mut last = read_dir(&dir).ok();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let files = match read_dir(&dir) {
            Ok(files) => files,
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "views directory unreadable");
                continue;
            }
        };
        if last.as_ref() == Some(&files) {
            continue;
        }
        last = Some(files);
        info!(dir = %dir.display(), "views directory changed; applying it");
        let error = match apply_dir(&client, &dir).await {
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some(message),
            Err(e) => Some(format!("{e:#}")),
        };
        *health
            .views_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = error;
    }
}

/// `eddy apply DIR`: prints the plan against the server at `url`, asks, applies.
pub async fn apply_command(
    dir: &Path,
    url: &str,
    dry_run: bool,
    prune: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let files = read_dir(dir)?;
    let client = connect(url).await?;
    let plan = run(&client, &apply_statement(files.clone(), true, prune, false)).await?;
    for row in &plan {
        println!("{}", plan_line(row));
    }
    let (summary, changes) = summary(&plan);
    println!("\n{summary}");
    if dry_run || !changes {
        return Ok(());
    }
    let started = std::time::Instant::now();
    if yes {
        let spinner =
            spinner("applying: new and replaced views are built beside the old ones, then swapped");
        let applied = run_watching(
            url,
            &client,
            &apply_statement(files, false, prune, false),
            &spinner,
        )
        .await;
        spinner.finish_and_clear();
        applied?;
        println!("Applied in {:.1} s.", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let spinner = spinner(
        "applying tables, streams and seed data; building the new views beside the old ones",
    );
    let built = run_watching(
        url,
        &client,
        &apply_statement(files, false, prune, true),
        &spinner,
    )
    .await;
    spinner.finish_and_clear();
    let held = Held::of(built?)?;
    held.print_diffs();
    print!(
        "Built in {:.1} s. Swap to the new versions? Only 'yes' swaps: ",
        started.elapsed().as_secs_f64()
    );
    held.ask_and_decide(&client).await
}

/// A spinner with the elapsed time while the server builds (on stderr, hidden when it
/// is not a terminal).
fn spinner(message: &'static str) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        spinner.set_style(style);
    }
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// A swap the server built and holds: its token and the rows of its answer.
struct Held {
    token: String,
    rows: Vec<Vec<String>>,
}

impl Held {
    fn of(rows: Vec<Vec<String>>) -> anyhow::Result<Held> {
        let Some(token) = rows.iter().find(|r| r[0] == "?").map(|r| r[2].clone()) else {
            bail!("the server did not hold the swap");
        };
        Ok(Held { token, rows })
    }

    /// The diff rows: `(view, +added -removed ... e.g. ...)`.
    fn diffs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rows
            .iter()
            .filter(|r| r[0] == "Δ")
            .map(|r| (r[2].as_str(), r[3].as_str()))
    }

    fn print_diffs(&self) {
        for (view, detail) in self.diffs() {
            println!("Δ {view}: {detail}");
        }
    }

    /// Whether every rebuilt view has the rows of the version serving now.
    fn unchanged(&self) -> bool {
        self.diffs()
            .all(|(_, detail)| detail.starts_with("diff +0 rows -0 rows"))
    }

    /// Reads the answer from stdin: only `yes` swaps.
    async fn ask_and_decide(self, client: &tokio_postgres::Client) -> anyhow::Result<()> {
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            self.abort(client).await?;
            bail!("not swapped: the new versions are dropped, the old ones keep serving");
        }
        run(client, &format!("APPLY COMMIT {}", self.token)).await?;
        println!("Swapped.");
        Ok(())
    }

    async fn abort(&self, client: &tokio_postgres::Client) -> anyhow::Result<()> {
        run(client, &format!("APPLY ABORT {}", self.token)).await?;
        Ok(())
    }
}

/// `eddy replay VIEW [--from WHERE]`: rebuilds a materialized view from its inputs
/// beside the serving version (with `from`, starting there in its streams), shows how
/// the rebuilt rows differ, asks, swaps (with `yes`, at once).
pub async fn replay_command(
    view: &str,
    from: Option<&str>,
    url: &str,
    yes: bool,
) -> anyhow::Result<()> {
    let client = connect(url).await?;
    let started = std::time::Instant::now();
    let spinner =
        spinner("replaying: the view is rebuilt from its inputs beside the serving version");
    let from = from
        .map(|from| format!(" FROM '{}'", from.replace('\'', "''")))
        .unwrap_or_default();
    let hold = if yes { "" } else { " WITH (HOLD = true)" };
    let built = run_watching(
        url,
        &client,
        &format!("REPLAY MATERIALIZED VIEW {view}{from}{hold}"),
        &spinner,
    )
    .await;
    spinner.finish_and_clear();
    let built = built?;
    if yes {
        println!(
            "Replayed and swapped in {:.1} s.",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let held = Held::of(built)?;
    held.print_diffs();
    print!(
        "Rebuilt in {:.1} s. Swap to the rebuilt version? Only 'yes' swaps: ",
        started.elapsed().as_secs_f64()
    );
    held.ask_and_decide(&client).await
}

/// `eddy diff VIEW`: rebuilds a materialized view from its inputs beside the serving
/// version, prints how the two differ at the same time, and drops the rebuilt one.
/// Fails (exit status 1) when they differ, like diff(1).
pub async fn diff_command(view: &str, url: &str) -> anyhow::Result<()> {
    let client = connect(url).await?;
    let spinner = spinner("rebuilding the view from its inputs beside the serving version");
    let built = run_watching(
        url,
        &client,
        &format!("REPLAY MATERIALIZED VIEW {view} WITH (HOLD = true)"),
        &spinner,
    )
    .await;
    spinner.finish_and_clear();
    let held = Held::of(built?)?;
    held.abort(&client).await?;
    held.print_diffs();
    if !held.unchanged() {
        bail!("{view} differs from its recomputation from the log");
    }
    println!("No difference: {view} equals its recomputation from the log.");
    Ok(())
}

/// The connection settings of `url`, with the password of `PGPASSWORD` when the URL
/// names none (as psql does).
fn client_config(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .with_context(|| format!("invalid server URL {url}"))?;
    if config.get_password().is_none() {
        if let Some(password) = std::env::var_os("PGPASSWORD") {
            config.password(password.as_encoded_bytes());
        }
    }
    Ok(config)
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = client_config(url)?
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("could not connect to {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// How often `eddy apply` looks at the replay's progress.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs `sql` while a second session at `url` shows under the spinner how far each new
/// version's replay has come (the statuses of `SHOW MATERIALIZED VIEWS`).
async fn run_watching(
    url: &str,
    client: &tokio_postgres::Client,
    sql: &str,
    spinner: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Vec<String>>> {
    let watcher = {
        let (spinner, url) = (spinner.clone(), url.to_string());
        let base = spinner.message();
        tokio::spawn(async move {
            let Ok(config) = client_config(&url) else {
                return;
            };
            let Ok((watch, connection)) = config.connect(tokio_postgres::NoTls).await else {
                return;
            };
            tokio::spawn(connection);
            loop {
                tokio::time::sleep(PROGRESS_INTERVAL).await;
                let Ok(rows) = run(&watch, "SHOW MATERIALIZED VIEWS").await else {
                    return;
                };
                let replaying: Vec<String> = rows
                    .iter()
                    .filter_map(|row| replay_line(row.first()?, row.get(1)?))
                    .collect();
                let mut message = base.clone();
                for line in replaying {
                    message.push_str("\n  ");
                    message.push_str(&line);
                }
                spinner.set_message(message);
            }
        })
    };
    let result = run(client, sql).await;
    watcher.abort();
    result
}

/// `revenue: replaying its inputs: its arrangements hold 1200 records so far, 3 s`
/// from a view's status, if it is replaying.
fn replay_line(name: &str, status: &str) -> Option<String> {
    let rest = status
        .strip_prefix("replacing: ")
        .or_else(|| status.strip_prefix("creating: "))?;
    rest.contains("replay")
        .then(|| format!("{name}: {}", rest.trim_start_matches("the new version is ")))
}

/// The rows of one statement, as text.
async fn run(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => anyhow::anyhow!("{}: {}", db.code().code(), db.message()),
            None => anyhow::anyhow!("{e}"),
        })?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}
