//! The Slurm job-array script of a sweep: one array task per plan entry, each running
//! `mnist-lab sweep run DIR --index $SLURM_ARRAY_TASK_ID`. A requeued or resubmitted task
//! resumes its run from the last checkpoint, and a finished one returns at once.

use std::path::Path;

use anyhow::Result;

use crate::error;

pub const SCRIPT: &str = "sweep.sbatch";

pub struct Options<'a> {
    pub runs: usize,
    pub max_parallel: Option<usize>,
    pub time: Option<&'a str>,
    pub cpus_per_task: usize,
    pub partition: Option<&'a str>,
    pub job_name: &'a str,
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

/// A path for an `#SBATCH` line or the script body: refused when Slurm or the shell would read
/// it as something else (blanks, quotes, `%` is Slurm's file-name pattern, `$` and `\`).
pub fn check_path(p: &Path) -> Result<String> {
    let s = p.to_str().ok_or_else(|| error::config(format!("{} is not valid UTF-8", p.display())))?;
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || "'\"%$`\\".contains(*c)) {
        return Err(error::config(format!(
            "{s}: the path holds {c:?}, which an sbatch script cannot carry safely; use a path without it"
        )));
    }
    Ok(s.to_string())
}

/// The script text. `exe` and `dir` are absolute and checked with [`check_path`]; `data` is the
/// data root to fall back on when the job's environment has no `MNIST_LAB_DATA`.
pub fn script(exe: &str, dir: &str, data: &str, o: &Options) -> String {
    let last = o.runs.saturating_sub(1);
    let throttle = o.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# A Slurm job array over the {} runs of {dir}/plan.json (written by `mnist-lab sweep slurm`).\n",
        o.runs
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
    s.push_str(&format!("#SBATCH --output={dir}/logs/slurm-%A_%a.out\n"));
    s.push_str("set -euo pipefail\n");
    s.push_str("# Matrix products use the task's CPUs, no more.\n");
    s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    s.push_str(&format!("export MNIST_LAB_DATA=\"${{MNIST_LAB_DATA:-{data}}}\"\n"));
    s.push_str(&format!("exec {exe} sweep run {dir} --index \"$SLURM_ARRAY_TASK_ID\"\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_paths() {
        for ok in ["30", "10:00", "01:30:00", "2-00", "1-12:00", "1-00:00:00"] {
            check_time(ok).unwrap();
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "1-", "a-01:00"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
        check_path(Path::new("/scratch/me/sweep-1")).unwrap();
        for bad in ["/a b", "/100%", "/it's", "/$HOME"] {
            assert!(check_path(Path::new(bad)).is_err(), "{bad}");
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
        let s = script("/bin/mnist-lab", "/s", "/data", &o);
        for line in [
            "#SBATCH --array=0-3%2",
            "#SBATCH --cpus-per-task=3",
            "#SBATCH --time=00:10:00",
            "#SBATCH --partition=gpu",
            "#SBATCH --requeue",
            "#SBATCH --output=/s/logs/slurm-%A_%a.out",
            "exec /bin/mnist-lab sweep run /s --index \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(s.lines().any(|l| l == line), "{line} in\n{s}");
        }
        let o = Options { runs: 1, max_parallel: None, time: None, cpus_per_task: 1, partition: None, job_name: "sw" };
        let s = script("/bin/mnist-lab", "/s", "/data", &o);
        assert!(s.lines().any(|l| l == "#SBATCH --array=0-0"), "{s}");
        assert!(!s.contains("--time") && !s.contains("--partition"), "{s}");
    }
}
