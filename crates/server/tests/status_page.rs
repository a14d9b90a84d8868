//! The status page (`GET /`): a real headless Chromium renders it (its script draws the
//! tables and the freshness plots from the embedded status and `/status.json`), and a
//! plain HTTP client checks what the server sends. View names never become markup.
//!
//! Chromium comes from the Debian package (`scripts/test.sh` installs it); without it
//! the test fails, saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A view name that would run script if it became markup.
const HOSTILE: &str = "<img src=x onerror=document.title='pwned'>";

/// The same name as the page's DOM serializes text.
const HOSTILE_AS_TEXT: &str = "&lt;img src=x onerror=document.title='pwned'&gt;";

/// Creates a table `t`, a view that sums it (`sums`), one that divides by zero on the
/// row `(3, 0)` (`ratios`, in error) and one with a hostile name.
async fn setup(eddy: &eddy_testkit::Eddy) {
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE t (a int, b int);
             CREATE MATERIALIZED VIEW sums AS SELECT a, sum(b) AS s FROM t GROUP BY a;
             CREATE MATERIALIZED VIEW ratios AS SELECT a / b AS r FROM t;
             CREATE MATERIALIZED VIEW \"{HOSTILE}\" AS SELECT count(*) AS n FROM t;
             INSERT INTO t VALUES (1, 2), (1, 4), (3, 0);"
        ))
        .await
        .unwrap_or_else(|e| panic!("setup: {}", common::describe_error(&e)));
}

/// Waits until `/status.json` satisfies `check`; panics with the last document after
/// 60 s.
fn wait_for_status(
    eddy: &eddy_testkit::Eddy,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let response = eddy.http_get("/status.json").expect("GET /status.json");
        assert_eq!(response.status, 200, "{response:?}");
        let status: serde_json::Value =
            serde_json::from_str(&response.body).expect("status.json is JSON");
        if check(&status) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn view<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["views"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// Every view is listed with its state, both have a few freshness samples, and the
/// failing one has its error.
fn settled(status: &serde_json::Value) -> bool {
    let samples = |name| {
        view(status, name)
            .and_then(|v| v["history"].as_array())
            .map_or(0, Vec::len)
    };
    view(status, "sums").is_some_and(|v| v["state"] == "ready" && v["rows"] == 2)
        && view(status, "ratios").is_some_and(|v| {
            v["state"]
                .as_str()
                .unwrap_or("")
                .starts_with("error: division by zero")
        })
        && view(status, HOSTILE).is_some()
        && samples("sums") >= 3
        && samples("ratios") >= 3
}

#[test]
fn the_status_page_escapes_names_over_plain_http() {
    let eddy = common::start_eddy(1);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(setup(&eddy));
    let status = wait_for_status(&eddy, "the views listed", |s| view(s, HOSTILE).is_some());
    assert!(view(&status, "sums").is_some(), "{status:#}");

    let page = eddy.http_get("/").expect("GET /");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8"),
        "{page:?}"
    );
    assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
    // Self-contained: no resource from elsewhere.
    for external in ["http://", "https://", "src=\"/", "href=\""] {
        let found = page
            .body
            .match_indices(external)
            .map(|(i, _)| &page.body[i.saturating_sub(30)..(i + 60).min(page.body.len())])
            .filter(|around| !around.contains("www.w3.org/2000/svg"))
            .collect::<Vec<_>>();
        assert!(found.is_empty(), "{external}: {found:?}");
    }
    // The name is in the page only as escaped JSON data.
    assert!(!page.body.contains("<img"), "{}", page.body);
    assert!(
        page.body
            .contains(r"\u003cimg src=x onerror=document.title='pwned'\u003e"),
        "{}",
        page.body
    );
    assert_eq!(eddy.http_get("/nope").expect("GET /nope").status, 404);
}

/// Where the Debian package puts Chromium, or a failure saying how to get it.
fn chromium() -> PathBuf {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(candidate))
                .find(|path| path.is_file())
        });
        if let Some(path) = found {
            return path;
        }
    }
    panic!(
        "chromium is not installed: this test renders the status page in headless Chromium; \
         run scripts/test.sh (as root it installs it) or `apt-get install --no-install-recommends chromium`"
    );
}

/// Runs headless Chromium on `url` with `args`; returns its stdout. Fails after 120 s.
fn run_chromium(url: &str, args: &[&str], profile: &Path) -> String {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let stdout_path = out_dir.path().join("stdout");
    let stderr_path = out_dir.path().join("stderr");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromium: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in 120 s: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    stdout
}

/// The `<tr>` of the row named `name` in the rendered DOM.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr data-name=\"{name}\">"))
        .unwrap_or_else(|| panic!("no row {name:?} in the page:\n{dom}"));
    let end = dom[start..].find("</tr>").expect("a closed row") + start;
    &dom[start..end]
}

#[test]
fn chromium_renders_views_tables_errors_and_freshness_plots() {
    chromium(); // Fails first, saying how to install it.
    let eddy = common::start_eddy(2);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(setup(&eddy));
    wait_for_status(&eddy, "views settled with freshness samples", settled);
    let url = format!("http://127.0.0.1:{}/", eddy.http_port());
    let profile = tempfile::tempdir().expect("chromium profile dir");

    let dom = run_chromium(&url, &["--dump-dom"], profile.path());
    assert!(
        dom.contains("<title>Eddy status</title>"),
        "the script ran and changed nothing it should not:\n{dom}"
    );

    let sums = row(&dom, "sums");
    assert!(
        sums.contains("<td>sums</td><td class=\"state-ready\">ready</td>"),
        "{sums}"
    );
    let ratios = row(&dom, "ratios");
    assert!(
        ratios.contains("<td class=\"state-error\">error: division by zero</td>"),
        "{ratios}"
    );
    for view in ["sums", "ratios"] {
        let row = row(&dom, view);
        let plot = row
            .find("<svg class=\"freshness\"")
            .map(|i| &row[i..])
            .unwrap_or_else(|| panic!("no freshness plot for {view}: {row}"));
        assert!(plot.contains(&format!("data-view=\"{view}\"")), "{plot}");
        let points = plot
            .split("<polyline points=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no polyline for {view}: {plot}"));
        let points: Vec<(f64, f64)> = points
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
            .collect();
        assert!(points.len() >= 3, "{view}: {points:?}");
        assert!(
            points
                .iter()
                .all(|(x, y)| (0.0..=260.0).contains(x) && (0.0..=48.0).contains(y)),
            "{view}: {points:?}"
        );
    }
    // The table, with its rows.
    let t = row(&dom, "t");
    assert!(
        t.contains("<td>t</td><td>table</td><td class=\"num\">3</td>"),
        "{t}"
    );
    // The health line says which view is in error.
    assert!(dom.contains("degraded"), "{dom}");
    // The hostile name is text, not an element.
    assert!(dom.contains(HOSTILE_AS_TEXT), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert!(!dom.contains("pwned</title>"), "{dom}");

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_page.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &url,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1200,900",
        ],
        profile.path(),
    );
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a {}-byte screenshot is blank",
        png.len()
    );
    println!("status page screenshot: {}", screenshot.display());
}
