//! Jars from Maven Central for tests (the Kafka broker, the JDBC driver), resolved with
//! `mvn dependency:copy-dependencies` into a cache outside the checkout
//! (`$EDDY_TEST_CACHE/<name>`, else `~/.cache/eddy-testkit/<name>`).
//!
//! Invariants: jars are fetched once and reused. A manifest (`jars.txt`, every jar's
//! name and size) is written last, and a cache whose manifest is missing or does not
//! match the directory is fetched again. A lock file serializes the fetch across
//! processes, so parallel test binaries fetch once.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::process::run_checked;

/// The environment variable naming the cache directory for downloaded jars.
pub const CACHE_ENV: &str = "EDDY_TEST_CACHE";

/// The cache directory `name` (`kafka-4.1.0`, `pgjdbc-42.7.14`).
pub fn cache_dir(name: &str) -> Result<PathBuf> {
    let base = match std::env::var_os(CACHE_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| anyhow!("neither {CACHE_ENV} nor HOME is set"))?;
            PathBuf::from(home).join(".cache").join("eddy-testkit")
        }
    };
    Ok(base.join(name))
}

/// The directory holding the jars of `dependencies` (the `<dependency>` elements of a
/// pom), cached as `name`, fetched with `mvn` under a lock file when the cache is not
/// complete; `required` is a jar the fetch must have produced. `what` names them in
/// messages.
pub fn locate(name: &str, what: &str, dependencies: &str, required: &str) -> Result<PathBuf> {
    let dir = cache_dir(name)?;
    let libs = dir.join("libs");
    if cache_is_complete(&dir) {
        return Ok(libs);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.join("fetch.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    // Another process may have fetched while we waited for the lock.
    if !cache_is_complete(&dir) {
        fetch(&dir, name, what, dependencies, required)?;
    }
    drop(lock);
    Ok(libs)
}

/// Whether `dir/jars.txt` exists and every jar it lists is in `dir/libs` with its size.
fn cache_is_complete(dir: &Path) -> bool {
    let Ok(manifest) = std::fs::read_to_string(dir.join("jars.txt")) else {
        return false;
    };
    let mut jars = 0;
    for line in manifest.lines() {
        let Some((name, size)) = line.rsplit_once(' ') else {
            return false;
        };
        let Ok(size) = size.parse::<u64>() else {
            return false;
        };
        match std::fs::metadata(dir.join("libs").join(name)) {
            Ok(meta) if meta.len() == size => jars += 1,
            _ => return false,
        }
    }
    jars > 0
}

/// Resolves the pom into `dir/libs` with Maven and writes the manifest last.
fn fetch(dir: &Path, name: &str, what: &str, dependencies: &str, required: &str) -> Result<()> {
    if Command::new("mvn").arg("-version").output().is_err() {
        bail!(
            "`mvn` not found: {what} is fetched with Maven (scripts/test.sh installs it as root)"
        );
    }
    let started = Instant::now();
    eprintln!("eddy-testkit: fetching {what} jars into {}", dir.display());
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, pom_xml(name, dependencies))
        .with_context(|| format!("writing {}", pom.display()))?;
    let partial = dir.join("libs.partial");
    let libs = dir.join("libs");
    for d in [&partial, &libs] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    let _ = std::fs::remove_file(dir.join("jars.txt"));
    run_checked(
        Command::new("mvn")
            .args(["-q", "-B", "-f"])
            .arg(&pom)
            .arg("dependency:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", partial.display()))
            .arg("-DincludeScope=runtime"),
        &format!("mvn dependency:copy-dependencies ({what} jars)"),
    )?;
    let mut manifest = String::new();
    let mut entries: Vec<_> = std::fs::read_dir(&partial)
        .with_context(|| format!("reading {}", partial.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let size = entry.metadata()?.len();
        manifest.push_str(&format!("{name} {size}\n"));
    }
    if !manifest
        .lines()
        .any(|l| l.starts_with(&format!("{required} ")))
    {
        bail!("mvn finished but {} holds no {required}", partial.display());
    }
    std::fs::rename(&partial, &libs)
        .with_context(|| format!("renaming {} to {}", partial.display(), libs.display()))?;
    std::fs::write(dir.join("jars.txt"), manifest).context("writing the jar manifest")?;
    eprintln!(
        "eddy-testkit: fetched {what} jars in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn pom_xml(name: &str, dependencies: &str) -> String {
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.eddy</groupId>
  <artifactId>eddy-testkit-{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    {dependencies}
  </dependencies>
</project>
"#
    )
}

/// The version of the Postgres JDBC driver (pgjdbc) the driver tests run.
pub const PGJDBC_VERSION: &str = "42.7.14";

/// The directory holding the Postgres JDBC driver's jars (the classpath is `libs/*`).
pub fn pgjdbc_jars() -> Result<PathBuf> {
    locate(
        &format!("pgjdbc-{PGJDBC_VERSION}"),
        &format!("pgjdbc {PGJDBC_VERSION}"),
        &format!(
            "<dependency>
      <groupId>org.postgresql</groupId>
      <artifactId>postgresql</artifactId>
      <version>{PGJDBC_VERSION}</version>
    </dependency>"
        ),
        &format!("postgresql-{PGJDBC_VERSION}.jar"),
    )
}
