//! The Slurm job-array script of a sweep: one array task per plan entry, each running
//! `mnist-lab sweep run DIR --index $SLURM_ARRAY_TASK_ID`. A requeued or resubmitted task
//! resumes its run from the last checkpoint, and a finished one returns at once.
//!
//! Paths reach the script two ways: the body is read by bash, where every value is
//! single-quoted, and `#SBATCH` lines are read by sbatch's own parser (quotes, backslashes and
//! `#` comments, but one line per option), where what it cannot carry is refused.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::error;

use super::plan::{self, LOGS};
use crate::data;
use crate::files::{create_dir_inside, write_inside};
use formats::plan::{Entry, Plan};

pub const SCRIPT: &str = "sweep.sbatch";

pub struct Options<'a> {
    pub runs: usize,
    pub max_parallel: Option<usize>,
    pub time: Option<&'a str>,
    pub cpus_per_task: usize,
    pub partition: Option<&'a str>,
    pub job_name: &'a str,
}

impl Options<'_> {
    /// Each option as `sweep slurm` names it, checked before anything is written.
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self.time {
            check_time(t)?;
        }
        if self.max_parallel == Some(0) {
            return Err(error::config("--max-parallel must be at least 1"));
        }
        if self.cpus_per_task == 0 {
            return Err(error::config("--cpus-per-task must be at least 1"));
        }
        if let Some(p) = self.partition
            && (p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,".contains(c)))
        {
            return Err(error::config(format!("--partition {p:?} is not a partition name")));
        }
        Ok(())
    }

    /// Slurm's default MaxArraySize is 1001: indices 0 to 1000.
    pub fn array_size_warning(&self) -> Option<String> {
        (self.runs > 1001).then(|| {
            format!(
                "warning: {} array tasks; Slurm's default MaxArraySize allows 1001 (ask for a larger one, or split the grid)",
                self.runs
            )
        })
    }
}

/// Write DIR/sweep.sbatch for `plan` (this executable, the data fetched now rather than by
/// every task at once); returns the script's path and DIR's absolute path.
pub fn write(dir: &Path, plan: &Plan, options: &Options) -> Result<(PathBuf, String)> {
    let abs = |p: &Path, what: &str| {
        fs::canonicalize(p).map_err(|e| error::config(format!("cannot find {what} {}: {e}", p.display())))
    };
    let abs_dir = check_path(&abs(dir, "the sweep directory")?)?;
    // Refused before the data is fetched.
    sbatch_dir(&abs_dir)?;
    let exe = std::env::current_exe().map_err(|e| error::runtime(format!("cannot find this executable: {e}")))?;
    let exe = check_path(&abs(&exe, "this executable")?)?;

    let entries: Vec<&Entry> = plan.runs.iter().collect();
    let mut data_root = None;
    for dataset in plan::datasets(dir, &entries)? {
        let d = data::data_dir(None, dataset);
        data::fetch::ensure(dataset, &d, false)?;
        let root = d.parent().map(Path::to_path_buf).unwrap_or_default();
        data_root = Some(abs(&root, "the data directory")?);
    }
    let data_root = check_path(&data_root.unwrap_or_default())?;

    // Made (or refused) before anything is written.
    let text = script(&exe, &abs_dir, &data_root, options)?;
    let logs = dir.join(LOGS);
    plan::check_folders(dir)?;
    create_dir_inside(dir, &logs)?;
    let script_path = dir.join(SCRIPT);
    write_inside(dir, &script_path, text.as_bytes())?;
    Ok((script_path, abs_dir))
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
pub fn check_time(t: &str) -> Result<()> {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = days.is_none_or(numeric) && parts.iter().all(|&p| numeric(p)) && parts.len() <= 3;
    if !ok {
        return Err(error::config(format!(
            "--time {t}: expected Slurm's HH:MM:SS (or MM, MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)"
        )));
    }
    Ok(())
}

/// A path as text for the script: refused only when it is not UTF-8 (the script is text).
pub fn check_path(p: &Path) -> Result<String> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        error::config(format!("{} is not valid UTF-8, which an sbatch script cannot carry", p.display()))
    })
}

/// `s` for one line of a message: control characters (a newline would split it) escaped.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// `s` as one bash word, exactly: single quotes keep everything literal, and a `'` inside is
/// closed, escaped and reopened (`'\''`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// [`quote`] only where the shell would read `s` otherwise, for a command printed to the user.
pub fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@".contains(c));
    if plain { s.to_string() } else { quote(s) }
}

/// The sweep folder for the `--output` line, inside double quotes as sbatch's parser reads them
/// (`"` escaped with `\`; blanks, `#` and `'` are literal there). A line cannot hold a newline
/// (nor, to be safe, any control character but a tab), and in a file name Slurm reads `%` as a pattern
/// and a `\` as "no patterns" (then every task would share one log): those are refused.
pub fn sbatch_dir(dir: &str) -> Result<String> {
    if let Some(c) = dir.chars().find(|&c| (c.is_control() && c != '\t') || c == '%' || c == '\\') {
        return Err(error::config(format!(
            "{}: the sweep folder's path holds {c:?}, which Slurm cannot take in the script's --output line; \
             use a folder whose path has no control character, `%` or `\\`",
            printable(dir)
        )));
    }
    Ok(dir.replace('"', "\\\""))
}

/// The script text. `exe` and `dir` are absolute; `data` is the data root to fall back on when
/// the job's environment has no `MNIST_LAB_DATA`. Refused when `dir` cannot go in an `#SBATCH`
/// line (see [`sbatch_dir`]).
pub fn script(exe: &str, dir: &str, data: &str, o: &Options) -> Result<String> {
    let output = format!("\"{}/logs/slurm-%A_%a.out\"", sbatch_dir(dir)?);
    let last = o.runs.saturating_sub(1);
    let throttle = o.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# A Slurm job array over the {} runs of {}/plan.json (written by `mnist-lab sweep slurm`).\n",
        o.runs,
        printable(dir)
    ));
    s.push_str("# Submit with `sbatch` on this file; resubmitting it is safe: finished runs return at once and\n");
    s.push_str("# interrupted ones (time limit, preemption, requeue) resume from their last checkpoint.\n");
    s.push_str(&format!("#SBATCH --job-name={}\n", o.job_name));
    s.push_str(&format!("#SBATCH --array=0-{last}{throttle}\n"));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", o.cpus_per_task));
    if let Some(t) = o.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(p) = o.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    s.push_str("#SBATCH --requeue\n");
    // Appended, so a requeued task's log keeps what its first attempt printed.
    s.push_str("#SBATCH --open-mode=append\n");
    s.push_str(&format!("#SBATCH --output={output}\n"));
    s.push_str("set -euo pipefail\n");
    s.push_str("# Matrix products use the task's CPUs, no more.\n");
    s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    s.push_str("# The job's own MNIST_LAB_DATA wins; else the data `sweep slurm` checked.\n");
    s.push_str("if [ -z \"${MNIST_LAB_DATA:-}\" ]; then\n");
    s.push_str(&format!("    export MNIST_LAB_DATA={}\n", quote(data)));
    s.push_str("fi\n");
    s.push_str(&format!("exec {} sweep run {} --index \"$SLURM_ARRAY_TASK_ID\"\n", quote(exe), quote(dir)));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::Command;

    fn options() -> Options<'static> {
        Options { runs: 4, max_parallel: None, time: None, cpus_per_task: 1, partition: None, job_name: "sw" }
    }

    /// One argument of an `#SBATCH` line as sbatch reads it (Slurm's sbatch/opt.c, `_get_argument`):
    /// blanks split, `'` and `"` group, `\` escapes the next character, an unquoted `#` ends
    /// the line.
    fn sbatch_arguments(line: &str) -> Vec<String> {
        let (mut out, mut arg, mut started) = (Vec::new(), String::new(), false);
        let (mut quote, mut escape) = (None, false);
        for c in line.chars() {
            if escape {
                escape = false;
            } else if c == '\\' {
                (escape, started) = (true, true);
                continue;
            } else if let Some(q) = quote {
                if c == q {
                    quote = None;
                    continue;
                }
            } else if c == '"' || c == '\'' {
                (quote, started) = (Some(c), true);
                continue;
            } else if c == '#' {
                break;
            } else if c.is_whitespace() {
                if started {
                    out.push(std::mem::take(&mut arg));
                    started = false;
                }
                continue;
            }
            arg.push(c);
            started = true;
        }
        assert!(quote.is_none(), "unmatched quote in {line}");
        if started {
            out.push(arg);
        }
        out
    }

    /// Run the script's body with bash, `exec` replaced by a function that prints its words and
    /// `MNIST_LAB_DATA`, each ended by NUL: what the task would run, word for word.
    /// It runs in an empty folder, which must stay empty (`{touch,PWNED}` would not).
    fn words(script: &str, data_env: Option<&str>) -> Vec<String> {
        let body = script.replace("\nexec ", "\nshow ");
        assert_ne!(body, script, "one exec line");
        let body = format!("show() {{ printf '%s\\0' \"$@\" \"$MNIST_LAB_DATA\"; }}\n{body}");
        let cwd = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(body).current_dir(cwd.path()).env("SLURM_ARRAY_TASK_ID", "7").env_remove("MNIST_LAB_DATA");
        if let Some(d) = data_env {
            cmd.env("MNIST_LAB_DATA", d);
        }
        let o = cmd.output().expect("bash runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "the script made files:\n{script}");
        let text = String::from_utf8(o.stdout).unwrap();
        text.strip_suffix('\0').unwrap().split('\0').map(str::to_string).collect()
    }

    fn bash_parses(script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCRIPT);
        std::fs::write(&path, script).unwrap();
        let o = Command::new("bash").arg("-n").arg(&path).output().expect("bash runs");
        assert!(o.status.success(), "bash -n: {}\n{script}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn times_paths_and_quotes() {
        for ok in ["30", "10:00", "01:30:00", "2-00", "1-12:00", "1-00:00:00"] {
            check_time(ok).unwrap();
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "1-", "a-01:00"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
        assert_eq!(check_path(Path::new("/it's (a) $HOME")).unwrap(), "/it's (a) $HOME");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote_if_needed("/scratch/me/sweep-1/sweep.sbatch"), "/scratch/me/sweep-1/sweep.sbatch");
        assert_eq!(quote_if_needed("/a b"), "'/a b'");
        assert_eq!(quote_if_needed(""), "''");
    }

    #[test]
    fn hostile_paths_reach_the_task_word_for_word() {
        let hostile = [
            "/s",
            "/x&{touch,PWNED};#",
            "/results(v2)",
            "/a b\tc",
            "/it's",
            "/''",
            "/say \"hi\"",
            "/$HOME/${IFS}/$(id)/`id`",
            "/}{;|<>*?[!~^",
            "/ünï #cødé",
        ];
        for dir in hostile {
            let exe = format!("{dir}/bin/mnist-lab");
            let data = format!("{dir}}}/data");
            let s = script(&exe, dir, &data, &options()).unwrap();
            bash_parses(&s);
            assert_eq!(
                words(&s, None),
                [exe.as_str(), "sweep", "run", dir, "--index", "7", data.as_str()],
                "{dir:?}:\n{s}"
            );
            // The job's own data directory wins over the one written in.
            assert_eq!(words(&s, Some("/job/data")).last().unwrap(), "/job/data", "{s}");
            let output: Vec<&str> = s.lines().filter(|l| l.starts_with("#SBATCH --output")).collect();
            assert_eq!(output.len(), 1, "{s}");
            let args = sbatch_arguments(&output[0]["#SBATCH".len()..]);
            assert_eq!(args, [format!("--output={dir}/logs/slurm-%A_%a.out")], "{dir:?}: {}", output[0]);
        }
    }

    #[test]
    fn what_an_sbatch_line_cannot_carry_is_refused_by_name() {
        for (dir, shown) in
            [("/a\nb", "/a\\nb"), ("/100%", "/100%"), ("/back\\slash", "/back\\slash"), ("/cr\r", "/cr\\r")]
        {
            let e = script("/bin/mnist-lab", dir, "/data", &options()).unwrap_err();
            assert_eq!(error::kind_of(&e), error::Kind::Config);
            let msg = format!("{e:#}");
            assert!(msg.starts_with(&format!("{shown}: the sweep folder's path holds")), "{msg}");
            assert!(!msg.contains('\n') && !msg.contains('\r'), "one line: {msg:?}");
        }
    }

    #[test]
    fn array_line_time_and_partition() {
        let o = Options {
            runs: 4,
            max_parallel: Some(2),
            time: Some("00:10:00"),
            cpus_per_task: 3,
            partition: Some("gpu"),
            job_name: "sw",
        };
        let s = script("/bin/mnist-lab", "/s", "/data", &o).unwrap();
        for line in [
            "#SBATCH --array=0-3%2",
            "#SBATCH --cpus-per-task=3",
            "#SBATCH --time=00:10:00",
            "#SBATCH --partition=gpu",
            "#SBATCH --requeue",
            "#SBATCH --output=\"/s/logs/slurm-%A_%a.out\"",
            "exec '/bin/mnist-lab' sweep run '/s' --index \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(s.lines().any(|l| l == line), "{line} in\n{s}");
        }
        let o = Options { runs: 1, max_parallel: None, time: None, cpus_per_task: 1, partition: None, job_name: "sw" };
        let s = script("/bin/mnist-lab", "/s", "/data", &o).unwrap();
        assert!(s.lines().any(|l| l == "#SBATCH --array=0-0"), "{s}");
        assert!(!s.contains("--time") && !s.contains("--partition"), "{s}");
    }
}
