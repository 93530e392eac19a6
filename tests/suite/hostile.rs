//! Files from strangers, driven through the binary: mutated `.keras` archives, run folders and
//! sweep and lecture folders, each read by the command a user would run on it. Every case ends
//! within 10 s under a 1.5 GiB address-space limit with exit 0 and the right result, or one
//! `error:` line (warnings before it); never a panic, a signal, a hang, nor a write outside its
//! folder: each case lives in `<tmp>/case/`, and everything else under `<tmp>/` (a victim file,
//! an outside folder, what a planted link points to) must be byte for byte as it was.
//!
//! Each group runs its whole table and fails once, listing every case that went wrong;
//! `HOSTILE_LOG=1 cargo test --release --test suite hostile:: -- --nocapture` prints a line per
//! case, passed or not. Archives are taken apart and rebuilt with the `zip` crate (as keras.rs
//! does), HDF5 metadata edited with its checksums made right again: no Python, no Keras.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// Wall-clock limit of one command.
const LIMIT: Duration = Duration::from_secs(10);
/// Address-space limit of one command (RLIMIT_AS): an allocation past it fails loudly.
const MEMORY: u64 = 1536 << 20;
/// What a victim file outside the case holds.
const VICTIM: &[u8] = b"the victim's own bytes: nothing mnist-lab does may change them\n";

/// The groups one at a time, so that one group's fixtures never slow another's timed commands.
static ONE_GROUP_AT_A_TIME: Mutex<()> = Mutex::new(());

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Running a command: bounded in time and memory, its peak resident size measured.

struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
    peak_rss_mib: f64,
}

/// `mnist-lab ARGS…` run in `cwd` under [`MEMORY`], killed (with its process group) after
/// [`LIMIT`]; stdout and stderr drained as it runs.
fn run_bounded(args: &[String], cwd: &Path) -> Outcome {
    use std::os::unix::process::CommandExt;
    let mut cmd = bin();
    cmd.args(args)
        .current_dir(cwd)
        .env("MNIST_LAB_DATA", mnist_dir())
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("BURN_DEVICE")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec, only async-signal-safe calls (setrlimit, setpgid).
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: MEMORY as libc::rlim_t, rlim_max: MEMORY as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 || libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the binary starts");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: wait4 on our own child, not waited for elsewhere (std's Child is never waited).
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > LIMIT {
            timed_out = true;
            // SAFETY: kill(2) on the child's own process group (setpgid above), then reap it.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    // Grandchildren (a sweep's workers) may still hold the pipes: the group goes too.
    // SAFETY: as above; a group with no process left makes kill fail harmlessly.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    drop(child);
    let (code, signal) = match (libc::WIFEXITED(status), libc::WIFSIGNALED(status)) {
        (true, _) => (Some(libc::WEXITSTATUS(status)), None),
        (_, true) => (None, Some(libc::WTERMSIG(status))),
        _ => (None, None),
    };
    Outcome {
        code,
        signal,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed,
        timed_out,
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

// ---------------------------------------------------------------------------------------------
// A case's folder, and what lies outside it.

/// `<tmp>/case/` (what the command is given) and `<tmp>/outside/` holding `victim.txt` and an
/// empty `dir/`; anything a case plants outside goes under `<tmp>/outside/` too.
struct Lab {
    tmp: tempfile::TempDir,
}

impl Lab {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("case")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside/dir")).unwrap();
        std::fs::write(tmp.path().join("outside/victim.txt"), VICTIM).unwrap();
        Lab { tmp }
    }
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn case(&self) -> PathBuf {
        self.root().join("case")
    }
    fn outside(&self) -> PathBuf {
        self.root().join("outside")
    }
    fn victim(&self) -> PathBuf {
        self.outside().join("victim.txt")
    }
    fn outside_dir(&self) -> PathBuf {
        self.outside().join("dir")
    }
}

/// Every entry under `root` but `skip`, never following a link: kind, and contents' hash.
fn snapshot(root: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path == skip {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let t = meta.file_type();
            let what = if t.is_symlink() {
                format!("link to {}", std::fs::read_link(&path).unwrap().display())
            } else if t.is_dir() {
                todo.push(path.clone());
                "folder".to_string()
            } else if t.is_file() {
                format!("file {:x}", sha2::Sha256::digest(std::fs::read(&path).unwrap()))
            } else if t.is_fifo() {
                "FIFO".to_string()
            } else {
                "special".to_string()
            };
            out.insert(path.strip_prefix(root).unwrap().to_path_buf(), what);
        }
    }
    out
}

fn fifo(path: &Path) {
    let o = Command::new("mkfifo").arg(path).output().unwrap();
    assert!(o.status.success(), "mkfifo: {}", stderr(&o));
}

/// `path` replaced by a sparse file of `len` bytes (it takes no disk).
fn sparse(path: &Path, len: u64) {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// `path` replaced by a symbolic link to `target`.
fn link(target: &Path, path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(path).unwrap();
    } else if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).unwrap();
    }
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// `path` (a file) replaced by a FIFO, a directory or a link to /dev/zero.
fn replace_with(path: &Path, what: Special) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(path).unwrap();
    } else if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).unwrap();
    }
    match what {
        Special::Fifo => fifo(path),
        Special::Dir => std::fs::create_dir(path).unwrap(),
        Special::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
    }
}

#[derive(Clone, Copy)]
enum Special {
    Fifo,
    Dir,
    DevZero,
}

fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp").arg("-a").arg(from).arg(to).output().unwrap();
    assert!(o.status.success(), "cp -a: {}", stderr(&o));
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
}

// ---------------------------------------------------------------------------------------------
// A table of cases.

/// What a case must end with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    /// Exit 0 (and whatever its check asks).
    Ok,
    /// A user error: exit 2, 3 or 4, one `error:` line.
    Refused,
    /// Either of the two, as long as nothing else goes wrong.
    Either,
}

type Check = Box<dyn FnOnce(&Lab, &Outcome) -> Result<(), String>>;
/// What a case does to one path of its folder.
type Make = Box<dyn Fn(&Path)>;

fn no_check() -> Check {
    Box::new(|_, _| Ok(()))
}

struct Group {
    name: &'static str,
    cases: usize,
    failures: Vec<String>,
}

impl Group {
    fn new(name: &'static str) -> Self {
        Group { name, cases: 0, failures: Vec::new() }
    }

    /// Build one case with `setup` (it returns the command's arguments), run it, and note every
    /// way it went wrong.
    fn case(&mut self, name: &str, want: Want, setup: impl FnOnce(&Lab) -> Vec<String>, check: Check) {
        self.cases += 1;
        let lab = Lab::new();
        let args = setup(&lab);
        let before = snapshot(lab.root(), &lab.case());
        let o = run_bounded(&args, &lab.case());
        let mut problems = judge(&o, want);
        let after = snapshot(lab.root(), &lab.case());
        if before != after {
            let changed: Vec<String> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .map(|k| match (before.get(k), after.get(k)) {
                    (Some(_), None) => format!("{} removed", k.display()),
                    (None, Some(_)) => format!("{} created", k.display()),
                    _ => format!("{} changed", k.display()),
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            problems.push(format!("wrote outside its folder: {}", changed.join(", ")));
        }
        if problems.is_empty()
            && let Err(why) = check(&lab, &o)
        {
            problems.push(why);
        }
        // HOSTILE_LOG=1 (with --nocapture): a line per case, passed or not.
        if std::env::var_os("HOSTILE_LOG").is_some() {
            let first = o.stderr.lines().next().unwrap_or("").replace(s(lab.root()), "$T");
            let first: String = first.chars().take(160).collect();
            println!(
                "[{}] {} {name}: {:?} {:?} {:.2} s {:.0} MiB | {first}",
                self.name,
                if problems.is_empty() { "ok  " } else { "FAIL" },
                o.code,
                o.signal,
                o.elapsed.as_secs_f64(),
                o.peak_rss_mib
            );
        }
        if !problems.is_empty() {
            let root = s(lab.root());
            let command: Vec<String> = args.iter().map(|a| a.replace(root, "$T")).collect();
            let first: Vec<&str> = o.stderr.lines().take(3).collect();
            let how = match (o.code, o.signal) {
                (Some(c), _) => format!("exit {c}"),
                (_, Some(sig)) => format!("killed by signal {sig}"),
                _ => "no exit status".into(),
            };
            self.failures.push(format!(
                "[{}] {name}: {}\n    $ mnist-lab {}\n    {how} after {:.2} s, peak {:.0} MiB; stderr: {}",
                self.name,
                problems.join("; "),
                command.join(" "),
                o.elapsed.as_secs_f64(),
                o.peak_rss_mib,
                if first.is_empty() { "(empty)".to_string() } else { first.join(" ⏎ ").replace(root, "$T") }
            ));
        }
    }

    /// Fails listing every failing case, after checking the table had at least `min` cases.
    fn finish(self, min: usize) {
        assert!(self.cases >= min, "[{}] {} cases, the requirement asks for {min}", self.name, self.cases);
        assert!(
            self.failures.is_empty(),
            "{} of {} {} cases failed:\n\n{}\n",
            self.failures.len(),
            self.cases,
            self.name,
            self.failures.join("\n\n")
        );
    }
}

/// The rules every case keeps, whatever the file.
fn judge(o: &Outcome, want: Want) -> Vec<String> {
    let mut problems = Vec::new();
    if o.timed_out {
        problems.push(format!("still running after {LIMIT:?} (killed)"));
    } else if let Some(sig) = o.signal {
        problems.push(format!("died of signal {sig} (an abort is an allocation past {} MiB)", MEMORY >> 20));
    }
    if o.peak_rss_mib > (MEMORY >> 20) as f64 {
        problems.push(format!("peak resident memory {:.0} MiB", o.peak_rss_mib));
    }
    let all = format!("{}{}", o.stderr, o.stdout);
    for bad in ["panicked", "internal error", "RUST_BACKTRACE", "memory allocation of"] {
        if all.contains(bad) {
            problems.push(format!("printed `{bad}`"));
        }
    }
    // An allocation refused by the limit and reported: without the limit it would have been made.
    if o.stderr.contains("out of memory") {
        problems.push(format!("tried to allocate past {} MiB (its error says `out of memory`)", MEMORY >> 20));
    }
    if o.timed_out || o.signal.is_some() {
        return problems;
    }
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = lines.iter().filter(|l| l.starts_with("error:")).count();
    match o.code {
        Some(0) => {
            if want == Want::Refused {
                problems.push("accepted (exit 0); it must be refused".into());
            }
            if errors > 0 {
                problems.push("exit 0 with an `error:` line".into());
            }
        }
        Some(2..=4) => {
            if want == Want::Ok {
                problems.push("refused; it must succeed".into());
            }
            if errors != 1 {
                problems.push(format!("{errors} `error:` lines on stderr, not one"));
            }
            if !lines.last().is_some_and(|l| l.starts_with("error:")) {
                problems.push("stderr does not end with its `error:` line".into());
            }
            if let Some(stray) = lines.iter().find(|l| !l.starts_with("warning:") && !l.starts_with("error:")) {
                problems.push(format!("stderr line that is neither `warning:` nor `error:`: {stray:?}"));
            }
        }
        Some(c) => problems.push(format!("exit code {c}, not 0 or a user error (2, 3, 4)")),
        None => problems.push("no exit status".into()),
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Fixtures, made once.

/// A small finished run (baseline, 1 000 images, one epoch) and its `.keras` export, members
/// read back.
struct Base {
    _tmp: tempfile::TempDir,
    run: PathBuf,
    keras: Vec<u8>,
    config: Value,
    metadata: Vec<u8>,
    weights: Vec<u8>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let (tmp, run) = train_run(&[
            "baseline",
            "--epochs",
            "1",
            "--set",
            "data.train_limit=1000",
            "--set",
            "data.validation=1000",
        ]);
        let file = tmp.path().join("base.keras");
        let o = crate::common::run(&["export", s(&run), "--format", "keras", "--to", s(&file)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let keras = std::fs::read(&file).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(keras.clone())).unwrap();
        let mut member = |name: &str| {
            let mut bytes = Vec::new();
            zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
            bytes
        };
        let (config, metadata, weights) = (member("config.json"), member("metadata.json"), member("model.weights.h5"));
        let config = serde_json::from_slice(&config).unwrap();
        // The surgery below keeps HDF5's checksums right: its lookup3 must be HDF5's.
        assert_eq!(lookup3(&weights[..44]).to_le_bytes(), weights[44..48], "lookup3 of the superblock");
        Base { _tmp: tmp, run, keras, config, metadata, weights }
    })
}

const GRID: &str = "base = \"overfit\"\nseeds = [1, 2]\n[set]\n\"train.epochs\" = 1\n\
                    [grid]\n\"optimizer.learning_rate\" = [0.1, 0.5]\n";

/// A finished 2 × 2 sweep (overfit, one epoch) and its ids in plan order: (0.1, 1), (0.1, 2),
/// (0.5, 1), (0.5, 2).
struct SweepBase {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ids: Vec<String>,
}

fn sweep_base() -> &'static SweepBase {
    static SWEEP: OnceLock<SweepBase> = OnceLock::new();
    SWEEP.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let grid = tmp.path().join("grid.toml");
        std::fs::write(&grid, GRID).unwrap();
        let dir = tmp.path().join("sweep");
        let o = crate::common::run(&["sweep", "plan", s(&grid), "--out", s(&dir)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = crate::common::run(&["sweep", "run", s(&dir), "--jobs", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let ids = read_json(&dir.join("plan.json"))["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        SweepBase { _tmp: tmp, dir, ids }
    })
}

/// One shortened lecture (one seed, one epoch a run), trained once and copied per case.
fn lecture_base() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lecture");
        let o = crate::common::run(&["lecture", "--out", s(&dir), "--seeds", "1", "--max-epochs", "1", "--jobs", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        (tmp, dir)
    })
    .1
}

// ---------------------------------------------------------------------------------------------
// Zip and HDF5 surgery on the export.

/// A stored zip of `members` (name, bytes), in order.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A `.keras` of the export's members with `config` and `weights` in their place.
fn keras_of(config: &Value, weights: &[u8]) -> Vec<u8> {
    let config = serde_json::to_vec(config).unwrap();
    zip_of(&[("metadata.json", &base().metadata), ("config.json", &config), ("model.weights.h5", weights)])
}

/// The export's config.json changed by `edit`.
fn config_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut c = base().config.clone();
    edit(&mut c);
    c
}

/// A zip's members as its central directory lists them: (name, central record, local header).
fn zip_members(raw: &[u8]) -> Vec<(String, usize, usize)> {
    let u16_at = |i: usize| u16::from_le_bytes([raw[i], raw[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().unwrap()) as usize;
    let eocd = eocd(raw);
    let (count, mut at) = (u16_at(eocd + 10), u32_at(eocd + 16));
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(&raw[at..at + 4], b"PK\x01\x02");
        let name_len = u16_at(at + 28);
        let name = String::from_utf8_lossy(&raw[at + 46..at + 46 + name_len]).into_owned();
        out.push((name, at, u32_at(at + 42)));
        at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
    }
    out
}

fn eocd(raw: &[u8]) -> usize {
    raw.windows(4).rposition(|w| w == b"PK\x05\x06").expect("an end of central directory")
}

/// The export with `member`'s (central record, local header, data) offsets given to `edit`.
fn raw_edit(member: &str, edit: impl FnOnce(&mut Vec<u8>, usize, usize, usize)) -> Vec<u8> {
    let mut raw = base().keras.clone();
    let (_, central, local) = zip_members(&raw).into_iter().find(|(n, _, _)| n == member).unwrap();
    let u16_at = |i: usize| u16::from_le_bytes([raw[i], raw[i + 1]]) as usize;
    let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
    edit(&mut raw, central, local, data);
    raw
}

fn put_u16(raw: &mut [u8], at: usize, v: u16) {
    raw[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(raw: &mut [u8], at: usize, v: u32) {
    raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(raw: &mut [u8], at: usize, v: u64) {
    raw[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Jenkins' lookup3 `hashlittle`, HDF5's metadata checksum.
fn lookup3(key: &[u8]) -> u32 {
    let (mut a, mut b, mut c) = {
        let v = 0xdead_beefu32.wrapping_add(key.len() as u32);
        (v, v, v)
    };
    let word = |k: &[u8]| u32::from_le_bytes(k.try_into().unwrap());
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        // mix
        a = a.wrapping_sub(c) ^ c.rotate_left(4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c) ^ c.rotate_left(16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(4);
        b = b.wrapping_add(a);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..k.len()].copy_from_slice(k);
    a = a.wrapping_add(word(&tail[0..4]));
    b = b.wrapping_add(word(&tail[4..8]));
    c = c.wrapping_add(word(&tail[8..12]));
    // final
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    (c ^ b).wrapping_sub(b.rotate_left(24))
}

/// The checksum of the version-2 object header that holds byte `at`, made right again.
fn fix_object_header(h5: &mut [u8], at: usize) {
    let start = h5[..at].windows(4).rposition(|w| w == b"OHDR").expect("an object header before the byte");
    let flags = h5[start + 5];
    let mut len = 6;
    if flags & 0x20 != 0 {
        len += 16;
    }
    if flags & 0x10 != 0 {
        len += 4;
    }
    let width = 1usize << (flags & 3);
    let mut size = [0u8; 8];
    size[..width].copy_from_slice(&h5[start + len..start + len + width]);
    let end = start + len + width + u64::from_le_bytes(size) as usize;
    assert!(end > at, "the byte lies in that header's first chunk");
    let sum = lookup3(&h5[start..end]);
    h5[end..end + 4].copy_from_slice(&sum.to_le_bytes());
}

/// The superblock's (version 2 or 3) checksum made right again.
fn fix_superblock(h5: &mut [u8]) {
    assert!(h5[8] >= 2, "a version 2 or 3 superblock");
    let sum = lookup3(&h5[..44]);
    h5[44..48].copy_from_slice(&sum.to_le_bytes());
}

/// Where the first Dense layer's kernel is described in the export's HDF5: its dataspace's
/// dimensions (784, 30), and its contiguous layout's address (then size, 784 × 30 × 4 bytes).
fn kernel_fields(h5: &[u8]) -> (usize, usize) {
    let find = |from: usize, bytes: &[u8]| h5[from..].windows(bytes.len()).position(|w| w == bytes).map(|i| i + from);
    let dims = find(0, &[784u64.to_le_bytes(), 30u64.to_le_bytes()].concat()).expect("the kernel's dimensions");
    let size = find(dims, &(784u64 * 30 * 4).to_le_bytes()).expect("the kernel's byte size");
    (dims, size - 8)
}

/// The export's HDF5 changed by `edit`, with the checksums of what it changed made right.
fn h5_with(edit: impl FnOnce(&mut Vec<u8>) -> Vec<usize>) -> Vec<u8> {
    let mut h5 = base().weights.clone();
    for at in edit(&mut h5) {
        if at < 48 {
            fix_superblock(&mut h5);
        } else {
            fix_object_header(&mut h5, at);
        }
    }
    h5
}

// ---------------------------------------------------------------------------------------------
// Checks a case may add.

/// A refused import leaves no run behind.
fn nothing_imported() -> Check {
    Box::new(|lab, o| match o.code {
        Some(0) => Ok(()),
        _ if lab.case().join("run").exists() => Err("refused, yet left case/run behind".into()),
        _ => Ok(()),
    })
}

/// An optimizer mnist-lab cannot train with is left out with a warning about it, and the
/// network comes in.
fn optimizer_left_out() -> Check {
    Box::new(|lab, o| {
        if o.stderr.contains("does not fit") {
            return Err("blames the network for the optimizer (\"does not fit\")".into());
        }
        if !o.stderr.lines().any(|l| l.starts_with("warning:") && l.contains("optimizer")) {
            return Err("no `warning:` line about the optimizer".into());
        }
        match lab.case().join("run/model.bpk").is_file() {
            true => Ok(()),
            false => Err("no case/run/model.bpk".into()),
        }
    })
}

/// A refusal, if any, does not blame the network for the compile config.
fn not_blaming_the_network() -> Check {
    Box::new(|_, o| match o.stderr.contains("does not fit") {
        true => Err("blames the network (\"does not fit\") for a compile setting".into()),
        false => Ok(()),
    })
}

/// The cells of a GitHub-flavoured Markdown table row: split at each `|` that no backslash
/// escapes (a backslash escapes the character after it, a backslash too).
fn gfm_cells(row: &str) -> Vec<String> {
    let (mut cells, mut cell, mut escaped) = (Vec::new(), String::new(), false);
    for c in row.trim().chars() {
        match c {
            _ if escaped => {
                cell.push(c);
                escaped = false;
            }
            '\\' => {
                cell.push(c);
                escaped = true;
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    // The leading and trailing pipes bound the row.
    if cells.first().is_some_and(|c| c.trim().is_empty()) {
        cells.remove(0);
    }
    if cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells
}

/// The Markdown table at the start of `text`: `rows` rows after its header and rule, each of
/// as many cells as the header, and no other line that Markdown reads as a row.
fn one_table(text: &str, rows: usize) -> Result<(), String> {
    let table: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with('|')).collect();
    if table.len() != rows + 2 {
        return Err(format!(
            "{} table lines, not a header, a rule and {rows} rows:\n{}",
            table.len(),
            table.join("\n")
        ));
    }
    let width = gfm_cells(table[0]).len();
    for line in &table {
        if gfm_cells(line).len() != width {
            return Err(format!("a row of {} cells under a header of {width}: {line}", gfm_cells(line).len()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// .keras files.

#[test]
fn keras_files() {
    let _one = ONE_GROUP_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = base();
    let mut g = Group::new("keras");
    let import = |lab: &Lab| -> Vec<String> {
        vec!["import".into(), s(&lab.case().join("x.keras")).into(), "--out".into(), s(&lab.case().join("run")).into()]
    };
    // A case whose .keras is `bytes`.
    let file_case = |g: &mut Group, name: &str, want: Want, bytes: Vec<u8>, check: Check| {
        g.case(
            name,
            want,
            move |lab| {
                std::fs::write(lab.case().join("x.keras"), &bytes).unwrap();
                import(lab)
            },
            check,
        );
    };

    // The export itself comes in: the table's yardstick.
    file_case(&mut g, "the export as it is", Want::Ok, base.keras.clone(), no_check());

    // Truncated anywhere.
    let len = base.keras.len();
    for cut in [
        0,
        1,
        2,
        4,
        22,
        30,
        64,
        200,
        1000,
        2600,
        len / 4,
        len / 2,
        3 * len / 4,
        len - 200,
        len - 100,
        len - 23,
        len - 22,
        len - 1,
    ] {
        let bytes = base.keras[..cut].to_vec();
        file_case(&mut g, &format!("truncated to {cut} of {len} bytes"), Want::Refused, bytes, nothing_imported());
    }

    // Bytes of the zip changed in place (its CRCs then disagree, or its structure lies).
    let zip_cases: Vec<(&str, Vec<u8>)> = vec![
        ("first local header's signature", raw_edit("metadata.json", |r, _, l, _| r[l] = b'Q')),
        ("config.json's CRC in the central directory", raw_edit("config.json", |r, c, _, _| r[c + 16] ^= 1)),
        (
            "a layer's name in config.json (CRC now wrong)",
            raw_edit("config.json", |r, _, _, d| {
                let at = r[d..].windows(7).position(|w| w == b"\"dense\"").unwrap();
                r[d + at + 2] = b'E';
            }),
        ),
        (
            "a weight in model.weights.h5 (CRC now wrong)",
            raw_edit("model.weights.h5", |r, _, _, d| r[d + 5000] ^= 0x40),
        ),
        ("model.weights.h5 declares 4 GiB", raw_edit("model.weights.h5", |r, c, _, _| put_u32(r, c + 24, u32::MAX))),
        (
            "model.weights.h5's compressed size 4 GiB",
            raw_edit("model.weights.h5", |r, c, _, _| put_u32(r, c + 20, 0xFFFF_FFF0)),
        ),
        (
            "model.weights.h5's local header at 2 GiB",
            raw_edit("model.weights.h5", |r, c, _, _| put_u32(r, c + 42, 0x7FFF_FFFF)),
        ),
        ("config.json's name length 65535", raw_edit("config.json", |r, c, _, _| put_u16(r, c + 28, u16::MAX))),
        (
            "model.weights.h5 said to be bzip2",
            raw_edit("model.weights.h5", |r, c, l, _| {
                put_u16(r, c + 10, 12);
                put_u16(r, l + 8, 12);
            }),
        ),
        (
            "model.weights.h5 said to be deflated",
            raw_edit("model.weights.h5", |r, c, l, _| {
                put_u16(r, c + 10, 8);
                put_u16(r, l + 8, 8);
            }),
        ),
        ("65535 entries in the end record", {
            let mut r = base.keras.clone();
            let e = eocd(&r);
            put_u16(&mut r, e + 8, u16::MAX);
            put_u16(&mut r, e + 10, u16::MAX);
            r
        }),
        ("the central directory at 4 GiB", {
            let mut r = base.keras.clone();
            let e = eocd(&r);
            put_u32(&mut r, e + 16, 0xFFFF_FFF0);
            r
        }),
        ("a 65535-byte comment that is not there", {
            let mut r = base.keras.clone();
            let e = eocd(&r);
            put_u16(&mut r, e + 20, u16::MAX);
            r
        }),
    ];
    for (what, bytes) in zip_cases {
        file_case(&mut g, &format!("zip: {what}"), Want::Refused, bytes, nothing_imported());
    }

    // model.weights.h5 changed, the zip around it sound.
    let h5 = &base.weights;
    let (dims, layout) = kernel_fields(h5);
    // Where the output layer's bias (10 f32, the last weights written) ends.
    let bias_end = {
        let at = h5.windows(8).rposition(|w| w == 40u64.to_le_bytes()).expect("the output bias's size");
        u64::from_le_bytes(h5[at - 8..at].try_into().unwrap()) as usize + 40
    };
    let h5_cases: Vec<(&str, Want, Vec<u8>)> = vec![
        (
            "HDF5 signature",
            Want::Refused,
            h5_with(|h| {
                h[1] = b'X';
                vec![]
            }),
        ),
        (
            "HDF5 superblock version 9",
            Want::Refused,
            h5_with(|h| {
                h[8] = 9;
                vec![]
            }),
        ),
        (
            "HDF5 offsets of 3 bytes",
            Want::Refused,
            h5_with(|h| {
                h[9] = 3;
                vec![0]
            }),
        ),
        (
            "HDF5 end of file at 2^62 (checksum right)",
            Want::Either,
            h5_with(|h| {
                put_u64(h, 28, 1 << 62);
                vec![0]
            }),
        ),
        (
            "HDF5 root group at 2^40 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, 36, 1 << 40);
                vec![0]
            }),
        ),
        (
            "HDF5 root group at the superblock (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, 36, 0);
                vec![0]
            }),
        ),
        (
            "kernel of 2^40 × 30 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, dims, 1 << 40);
                vec![dims]
            }),
        ),
        (
            "kernel of (2^63 + 11760) × 2, 23 520 values mod 2^64 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, dims, (1 << 63) + 11760);
                put_u64(h, dims + 8, 2);
                vec![dims]
            }),
        ),
        (
            "kernel of 785 × 30 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, dims, 785);
                vec![dims]
            }),
        ),
        (
            "kernel of 0 × 30 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, dims, 0);
                vec![dims]
            }),
        ),
        (
            "kernel's data at 2^40 (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, layout, 1 << 40);
                vec![layout]
            }),
        ),
        (
            "kernel's data at 2^64 − 8, wrapping (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, layout, u64::MAX - 7);
                vec![layout]
            }),
        ),
        (
            "kernel's data 2^40 bytes long (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, layout + 8, 1 << 40);
                vec![layout]
            }),
        ),
        (
            "kernel's data 2^64 − 1 bytes long (checksum right)",
            Want::Refused,
            h5_with(|h| {
                put_u64(h, layout + 8, u64::MAX);
                vec![layout]
            }),
        ),
        ("HDF5 truncated to 100 bytes", Want::Refused, h5[..100].to_vec()),
        ("HDF5 truncated to 1000 bytes", Want::Refused, h5[..1000].to_vec()),
        ("HDF5 cut in the output layer's bias", Want::Refused, h5[..bias_end - 20].to_vec()),
        // Its last bytes are none of the weights: the network read is whole.
        ("HDF5 without its last byte", Want::Either, h5[..h5.len() - 1].to_vec()),
        ("HDF5 all zeros", Want::Refused, vec![0; h5.len()]),
    ];
    for (what, want, weights) in h5_cases {
        file_case(&mut g, &format!("h5: {what}"), want, keras_of(&base.config, &weights), nothing_imported());
    }
    // A byte flipped here and there: metadata is refused by its checksums, a weight may change.
    for k in 1..=8 {
        let at = k * h5.len() / 9;
        let mut weights = h5.clone();
        weights[at] ^= 0xFF;
        file_case(
            &mut g,
            &format!("h5: byte {at} flipped"),
            Want::Either,
            keras_of(&base.config, &weights),
            nothing_imported(),
        );
    }

    // config.json says something else.
    let wrap = |first: u64, second: u64| json!([null, first, second]);
    let flatten = json!({"class_name": "Flatten", "config": {"name": "flatten", "data_format": "channels_last",
        "dtype": "float32", "trainable": true}, "module": "keras.layers", "registered_name": null});
    let on_input = |shape: Value| {
        let flatten = flatten.clone();
        config_with(move |c| {
            c["config"]["layers"][0]["config"]["batch_shape"] = shape.clone();
            c["config"]["build_input_shape"] = shape;
            c["config"]["layers"].as_array_mut().unwrap().insert(1, flatten);
        })
    };
    let config_cases: Vec<(&str, Want, Value, Check)> = vec![
        (
            "input (2^63 + 392) × 2, 784 values mod 2^64",
            Want::Refused,
            on_input(wrap((1 << 63) + 392, 2)),
            nothing_imported(),
        ),
        (
            "input (2^62 + 196) × 4, 784 values mod 2^64",
            Want::Refused,
            on_input(wrap((1 << 62) + 196, 4)),
            nothing_imported(),
        ),
        (
            "input (2^63 + 392) × 1 × 2",
            Want::Refused,
            on_input(json!([null, (1u64 << 63) + 392, 1, 2])),
            nothing_imported(),
        ),
        (
            "Reshape of 28 × 28 to (2^63 + 392) × 2",
            Want::Refused,
            config_with(|c| {
                c["config"]["layers"][0]["config"]["batch_shape"] = json!([null, 28, 28]);
                c["config"]["build_input_shape"] = json!([null, 28, 28]);
                let reshape = json!({"class_name": "Reshape", "config": {"name": "reshape",
                    "target_shape": [(1u64 << 63) + 392, 2], "dtype": "float32", "trainable": true},
                    "module": "keras.layers", "registered_name": null});
                c["config"]["layers"].as_array_mut().unwrap().insert(1, reshape);
            }),
            nothing_imported(),
        ),
        (
            "no InputLayer, build shape (2^63 + 392) × 2",
            Want::Refused,
            {
                let flatten = flatten.clone();
                config_with(move |c| {
                    c["config"]["build_input_shape"] = json!([null, (1u64 << 63) + 392, 2]);
                    let layers = c["config"]["layers"].as_array_mut().unwrap();
                    layers[0] = flatten;
                    layers[1]["build_config"]["input_shape"] = json!([null, (1u64 << 63) + 392, 2]);
                })
            },
            nothing_imported(),
        ),
        (
            "input of −784",
            Want::Refused,
            config_with(|c| {
                c["config"]["layers"][0]["config"]["batch_shape"] = json!([null, -784]);
                c["config"]["build_input_shape"] = json!([null, -784]);
            }),
            nothing_imported(),
        ),
        (
            "0 units",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!(0)),
            nothing_imported(),
        ),
        (
            "−30 units",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!(-30)),
            nothing_imported(),
        ),
        (
            "2^62 units",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!(1u64 << 62)),
            nothing_imported(),
        ),
        (
            "30.5 units",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!(30.5)),
            nothing_imported(),
        ),
        (
            "units \"30\"",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!("30")),
            nothing_imported(),
        ),
        (
            "31 units, weights for 30",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["units"] = json!(31)),
            nothing_imported(),
        ),
        (
            "activation swish",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["config"]["activation"] = json!("swish")),
            nothing_imported(),
        ),
        (
            "linear output",
            Want::Refused,
            config_with(|c| c["config"]["layers"][2]["config"]["activation"] = json!("linear")),
            nothing_imported(),
        ),
        ("no layers", Want::Refused, config_with(|c| c["config"]["layers"] = json!([])), nothing_imported()),
        (
            "a Conv2D",
            Want::Refused,
            config_with(|c| c["config"]["layers"][1]["class_name"] = json!("Conv2D")),
            nothing_imported(),
        ),
        (
            "a functional model whose output skips the hidden layer",
            Want::Refused,
            config_with(|c| {
                c["class_name"] = json!("Functional");
                let layers = c["config"]["layers"].as_array_mut().unwrap();
                for (i, from) in [(1, "input_layer"), (2, "input_layer")] {
                    layers[i]["inbound_nodes"] = json!([{"args": [{"class_name": "__keras_tensor__",
                    "config": {"keras_history": [from, 0, 0]}}], "kwargs": {}}]);
                }
            }),
            nothing_imported(),
        ),
        (
            "Dropout of rate 1.5",
            Want::Refused,
            config_with(|c| {
                let dropout = json!({"class_name": "Dropout", "config": {"name": "dropout", "rate": 1.5,
                "dtype": "float32", "trainable": true}, "module": "keras.layers", "registered_name": null});
                c["config"]["layers"].as_array_mut().unwrap().insert(2, dropout);
            }),
            nothing_imported(),
        ),
        (
            "Rescaling of 1",
            Want::Refused,
            config_with(|c| {
                let rescaling = json!({"class_name": "Rescaling", "config": {"name": "rescaling", "scale": 1.0,
                "offset": 0.0, "dtype": "float32", "trainable": true}, "module": "keras.layers", "registered_name": null});
                c["config"]["layers"].as_array_mut().unwrap().insert(1, rescaling);
            }),
            nothing_imported(),
        ),
        (
            "a hidden layer with no weights",
            Want::Refused,
            config_with(|c| {
                let extra = c["config"]["layers"][1].clone();
                let layers = c["config"]["layers"].as_array_mut().unwrap();
                layers.insert(2, extra);
                layers[2]["config"]["name"] = json!("dense_extra");
                layers[2]["config"]["units"] = json!(30);
            }),
            nothing_imported(),
        ),
        (
            "SGD momentum 1.0",
            Want::Ok,
            config_with(|c| {
                c["compile_config"]["optimizer"]["config"]["momentum"] = json!(1.0);
            }),
            optimizer_left_out(),
        ),
        (
            "SGD learning rate −3",
            Want::Ok,
            config_with(|c| {
                c["compile_config"]["optimizer"]["config"]["learning_rate"] = json!(-3.0);
            }),
            optimizer_left_out(),
        ),
        (
            "Adam beta_1 1.0",
            Want::Ok,
            config_with(|c| {
                c["compile_config"]["optimizer"] = json!({"class_name": "Adam", "config": {"name": "adam",
                "learning_rate": 0.001, "beta_1": 1.0, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": false},
                "module": "keras.optimizers", "registered_name": null});
            }),
            optimizer_left_out(),
        ),
        (
            "an optimizer mnist-lab lacks (Lion)",
            Want::Either,
            config_with(|c| {
                c["compile_config"]["optimizer"]["class_name"] = json!("Lion");
            }),
            not_blaming_the_network(),
        ),
        (
            "a loss mnist-lab lacks (huber)",
            Want::Either,
            config_with(|c| {
                c["compile_config"]["loss"] = json!("huber");
            }),
            not_blaming_the_network(),
        ),
    ];
    for (what, want, config, check) in config_cases {
        file_case(&mut g, &format!("config.json: {what}"), want, keras_of(&config, &base.weights), check);
    }
    let config = serde_json::to_vec(&base.config).unwrap();
    let members = |list: &[(&str, &[u8])]| zip_of(list);
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let big = vec![b' '; (16 << 20) + 1];
    let archive_cases: Vec<(&str, Want, Vec<u8>)> = vec![
        (
            "config.json not JSON",
            Want::Refused,
            members(&[("config.json", b"{\"class_name\": "), ("model.weights.h5", h5)]),
        ),
        (
            "config.json 100 000 arrays deep",
            Want::Refused,
            members(&[("config.json", nested.as_bytes()), ("model.weights.h5", h5)]),
        ),
        ("config.json `null`", Want::Refused, members(&[("config.json", b"null"), ("model.weights.h5", h5)])),
        (
            "config.json of 16 MiB + 1 spaces",
            Want::Refused,
            members(&[("config.json", &big), ("model.weights.h5", h5)]),
        ),
        ("config.json a folder", Want::Refused, members(&[("config.json/", b""), ("model.weights.h5", h5)])),
        ("config.json twice, the second a Conv2D", Want::Either, {
            // The zip crate writes no name twice: a stand-in name, renamed in both headers.
            let conv = config_with(|c| c["config"]["layers"][1]["class_name"] = json!("Conv2D"));
            let mut raw = members(&[
                ("config.json", &config),
                ("config.jsoX", &serde_json::to_vec(&conv).unwrap()),
                ("model.weights.h5", h5),
            ]);
            for (name, central, local) in zip_members(&raw.clone()) {
                if name == "config.jsoX" {
                    raw[central + 46 + 10] = b'n';
                    raw[local + 30 + 10] = b'n';
                }
            }
            raw
        }),
        (
            "a member named ../../outside/dir/evil",
            Want::Either,
            members(&[("config.json", &config), ("model.weights.h5", h5), ("../../outside/dir/evil", b"evil")]),
        ),
        ("no metadata.json", Want::Either, members(&[("config.json", &config), ("model.weights.h5", h5)])),
    ];
    for (what, want, bytes) in archive_cases {
        file_case(&mut g, &format!("archive: {what}"), want, bytes, nothing_imported());
    }

    // model.weights.h5 a deflate bomb: 1.1 GB of zeros (honestly declared), under the archive's
    // cap but thousands of times what the config's network holds.
    let bomb = {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in [("metadata.json", &base.metadata[..]), ("config.json", &config[..])] {
            zip.start_file(name, SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        let deflated = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1));
        zip.start_file("model.weights.h5", deflated).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..(1024 + 60) {
            zip.write_all(&chunk).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    file_case(&mut g, "archive: model.weights.h5 inflates to 1.1 GB of zeros", Want::Refused, bomb, nothing_imported());

    // The .keras path is no regular file, or a huge one.
    let specials: Vec<(&str, Make)> = vec![
        ("a FIFO", Box::new(fifo)),
        ("a folder", Box::new(|p| std::fs::create_dir(p).unwrap())),
        ("a link to /dev/zero", Box::new(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap())),
        ("a sparse 3 GiB file", Box::new(|p| sparse(p, 3 << 30))),
        ("a sparse 1.9 GiB file (under the 2 GiB cap)", Box::new(|p| sparse(p, 1900 << 20))),
        (
            "the export after 1 GiB of sparse zeros",
            Box::new(|p| {
                sparse(p, 1 << 30);
                use std::io::{Seek, Write};
                let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.seek(std::io::SeekFrom::End(0)).unwrap();
                f.write_all(&base.keras).unwrap();
            }),
        ),
    ];
    for (what, make) in specials {
        // A zip may follow other bytes: the export after the zeros is still the export.
        let want = if what.starts_with("the export") { Want::Either } else { Want::Refused };
        g.case(
            &format!("x.keras is {what}"),
            want,
            move |lab| {
                make(&lab.case().join("x.keras"));
                import(lab)
            },
            nothing_imported(),
        );
    }

    // --out a folder with links of someone else's in it.
    let good = base.keras.clone();
    g.case(
        "--out holds model.bpk -> victim",
        Want::Either,
        move |lab| {
            std::fs::write(lab.case().join("x.keras"), &good).unwrap();
            std::fs::create_dir(lab.case().join("run")).unwrap();
            link(&lab.victim(), &lab.case().join("run/model.bpk"));
            import(lab)
        },
        no_check(),
    );
    let good = base.keras.clone();
    g.case(
        "--out holds an unstarted run's lock and config.toml -> victim",
        Want::Either,
        move |lab| {
            std::fs::write(lab.case().join("x.keras"), &good).unwrap();
            std::fs::create_dir(lab.case().join("run")).unwrap();
            std::fs::write(lab.case().join("run/.mnist-lab.lock"), "1\n").unwrap();
            link(&lab.victim(), &lab.case().join("run/config.toml"));
            import(lab)
        },
        no_check(),
    );
    g.finish(40);
}

// ---------------------------------------------------------------------------------------------
// Run folders.

/// A copy of the base run at `<case>/run`.
fn run_copy(lab: &Lab) -> PathBuf {
    let run = lab.case().join("run");
    copy_dir(&base().run, &run);
    run
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// `train --resume RUN --epochs 2`: one more epoch, written into the run.
fn resume(run: &Path) -> Vec<String> {
    args(&["train", "--resume", s(run), "--epochs", "2", "--quiet"])
}

/// The run's summary.json changed by `edit`.
fn edit_summary(run: &Path, edit: impl FnOnce(&mut Value)) {
    let path = run.join("summary.json");
    let mut v = read_json(&path);
    edit(&mut v);
    write_json(&path, &v);
}

/// `name` (relative to `dir`) moved outside and replaced by a link to it.
fn moved_out_of(lab: &Lab, dir: &Path, name: &str) {
    let outside = lab.outside().join(name.replace('/', "-"));
    std::fs::rename(dir.join(name), &outside).unwrap();
    link(&outside, &dir.join(name));
}

#[test]
fn run_folders() {
    let _one = ONE_GROUP_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ = base();
    let mut g = Group::new("run folders");
    type Command = fn(&Path) -> Vec<String>;
    let eval: Command = |r| args(&["eval", s(r)]);
    let report: Command = |r| args(&["report", s(r)]);

    // The copy as it is: the yardstick.
    g.case("a copy of the run, eval", Want::Ok, move |lab| eval(&run_copy(lab)), no_check());
    g.case("a copy of the run, resumed", Want::Ok, move |lab| resume(&run_copy(lab)), no_check());

    // Unbounded reads: special files and huge sparse ones where a file should be.
    let reads: Vec<(&str, &str, Command, Make)> = vec![
        ("config.toml", "a FIFO", eval, Box::new(|p| replace_with(p, Special::Fifo))),
        ("config.toml", "a folder", eval, Box::new(|p| replace_with(p, Special::Dir))),
        ("config.toml", "a link to /dev/zero", eval, Box::new(|p| replace_with(p, Special::DevZero))),
        ("config.toml", "a sparse 3 GiB file", eval, Box::new(|p| sparse(p, 3 << 30))),
        ("model.bpk", "a FIFO", eval, Box::new(|p| replace_with(p, Special::Fifo))),
        ("model.bpk", "a folder", eval, Box::new(|p| replace_with(p, Special::Dir))),
        ("model.bpk", "a link to /dev/zero", eval, Box::new(|p| replace_with(p, Special::DevZero))),
        ("model.bpk", "a sparse 4 GiB file", eval, Box::new(|p| sparse(p, 4 << 30))),
        ("model.bpk", "truncated to half", eval, Box::new(|p| truncate(p, std::fs::metadata(p).unwrap().len() / 2))),
        ("summary.json", "a FIFO", report, Box::new(|p| replace_with(p, Special::Fifo))),
        ("summary.json", "a sparse 2 GiB file", report, Box::new(|p| sparse(p, 2 << 30))),
        ("history.csv", "a link to /dev/zero", report, Box::new(|p| replace_with(p, Special::DevZero))),
        ("history.csv", "a FIFO", report, Box::new(|p| replace_with(p, Special::Fifo))),
        ("history.csv", "a sparse 3 GiB file", report, Box::new(|p| sparse(p, 3 << 30))),
        ("history.csv", "a sparse 500 MiB file (under its cap)", report, Box::new(|p| sparse(p, 500 << 20))),
        ("checkpoints/latest", "a FIFO", resume, Box::new(|p| replace_with(p, Special::Fifo))),
        ("checkpoints/latest", "a link to /dev/zero", resume, Box::new(|p| replace_with(p, Special::DevZero))),
        ("checkpoints/epoch-0001/state.json", "a sparse 2 GiB file", resume, Box::new(|p| sparse(p, 2 << 30))),
        (
            "checkpoints/epoch-0001/state.json",
            "a sparse 500 MiB file (under its cap)",
            resume,
            Box::new(|p| sparse(p, 500 << 20)),
        ),
        (
            "checkpoints/epoch-0001/optimizer.bpk",
            "a link to /dev/zero",
            resume,
            Box::new(|p| replace_with(p, Special::DevZero)),
        ),
        ("checkpoints/epoch-0001/model.bpk", "a folder", resume, Box::new(|p| replace_with(p, Special::Dir))),
        ("checkpoints/epoch-0001/model.bpk", "a sparse 4 GiB file", resume, Box::new(|p| sparse(p, 4 << 30))),
    ];
    for (file, what, command, make) in reads {
        let name = format!("{file} is {what}, {}", command(Path::new("RUN"))[0]);
        g.case(
            &name,
            Want::Refused,
            move |lab| {
                let run = run_copy(lab);
                make(&run.join(file));
                command(&run)
            },
            no_check(),
        );
    }

    // Writes through a link placed in the run: the victim stays as it was.
    let exports: Vec<(&str, &[&str])> = vec![
        ("model.safetensors", &[]),
        ("model.onnx", &["--format", "onnx"]),
        ("model.keras", &["--format", "keras"]),
        ("digit.html", &["--format", "web"]),
    ];
    for (file, format) in exports {
        g.case(
            &format!("{file} -> victim, export {}", format.join(" ")),
            Want::Either,
            move |lab| {
                let run = run_copy(lab);
                link(&lab.victim(), &run.join(file));
                [&["export", s(&run)][..], format].concat().iter().map(|a| a.to_string()).collect()
            },
            no_check(),
        );
    }
    for file in ["curves.svg", "confusion.png", ".mnist-lab.lock"] {
        g.case(
            &format!("{file} -> victim, resumed"),
            Want::Either,
            move |lab| {
                let run = run_copy(lab);
                link(&lab.victim(), &run.join(file));
                resume(&run)
            },
            no_check(),
        );
    }
    for name in ["summary.json", "history.csv", "model.bpk", "checkpoints", "tensorboard", "checkpoints/epoch-0001"] {
        g.case(
            &format!("{name} -> a copy outside, resumed"),
            Want::Either,
            move |lab| {
                let run = run_copy(lab);
                // Whatever is read through the link is the run's own; nothing may be written there.
                moved_out_of(lab, &run, name);
                resume(&run)
            },
            no_check(),
        );
    }
    g.case(
        "checkpoints -> an empty folder outside, resumed",
        Want::Either,
        |lab| {
            let run = run_copy(lab);
            link(&lab.outside_dir(), &run.join("checkpoints"));
            resume(&run)
        },
        no_check(),
    );

    // Tampered summaries are not taken as true.
    g.case(
        "summary.json's preset with a newline, report",
        Want::Refused,
        |lab| {
            let run = run_copy(lab);
            edit_summary(&run, |v| v["preset"] = json!("baseline\n| forged | mnist | flex | 1 | 1 | 99.99 % | 0.01 |"));
            report(&run)
        },
        no_check(),
    );
    g.case(
        "summary.json's dataset unknown, report",
        Want::Refused,
        |lab| {
            let run = run_copy(lab);
            edit_summary(&run, |v| v["dataset"] = json!("cifar-10"));
            report(&run)
        },
        no_check(),
    );
    g.case(
        "summary.json's backend unknown, web export",
        Want::Either,
        |lab| {
            let run = run_copy(lab);
            edit_summary(&run, |v| v["backend"] = json!("<script>alert(1)</script>"));
            args(&["export", s(&run), "--format", "web", "--to", s(&lab.case().join("page.html"))])
        },
        Box::new(|lab, o| {
            let page = std::fs::read_to_string(lab.case().join("page.html")).unwrap_or_default();
            match o.code == Some(0) && page.contains("<script>alert") {
                true => Err("the page holds the summary's script".into()),
                false => Ok(()),
            }
        }),
    );
    g.case(
        "one of two runs with an unknown dataset, report of their folder",
        Want::Either,
        |lab| {
            let runs = lab.case().join("runs");
            std::fs::create_dir(&runs).unwrap();
            copy_dir(&base().run, &runs.join("good"));
            copy_dir(&base().run, &runs.join("bad"));
            edit_summary(&runs.join("bad"), |v| v["dataset"] = json!("cifar-10"));
            args(&["report", s(&runs)])
        },
        Box::new(|_, o| {
            if o.code != Some(0) {
                return Ok(());
            }
            one_table(&o.stdout, 1)?;
            match o.stderr.contains("bad") && o.stderr.contains("warning:") {
                true => Ok(()),
                false => Err("the bad run is not named in a warning".into()),
            }
        }),
    );

    // Output injection: no string of a run forges a row or a cell of report's table.
    let injections: Vec<(&str, &str, &str)> = vec![
        ("a `|` in a preset", "a", "base | line | forged"),
        ("a `\\|` in a preset", "a", "back\\| mnist | flex | 9 | 9 | 99.99 % | 0.00 | forged"),
        ("a newline in a preset", "a", "x\n| forged | mnist | flex | 1 | 1 | 99.99 % | 0.01 |"),
        ("a newline and `|` in a run's folder name", "x\n| forged | mnist | flex | 1 | 1 | 99.99 % | 0.01 |", ""),
        ("a `\\|` in a run's folder name", "back\\| forged | cell", ""),
    ];
    for (what, folder, preset) in injections {
        g.case(
            &format!("{what}, report of a folder of two runs"),
            Want::Either,
            move |lab| {
                let runs = lab.case().join("runs");
                std::fs::create_dir(&runs).unwrap();
                copy_dir(&base().run, &runs.join("plain"));
                copy_dir(&base().run, &runs.join(folder));
                if !preset.is_empty() {
                    edit_summary(&runs.join(folder), |v| v["preset"] = json!(preset));
                }
                args(&["report", s(&runs), "--out", s(&lab.case().join("report.md"))])
            },
            Box::new(|lab, o| {
                if o.code != Some(0) {
                    return Ok(());
                }
                let rows = if o.stderr.contains("left out") { 1 } else { 2 };
                one_table(&o.stdout, rows).map_err(|e| format!("stdout: {e}"))?;
                let md = std::fs::read_to_string(lab.case().join("report.md")).unwrap_or_default();
                one_table(&md, rows).map_err(|e| format!("report.md: {e}"))
            }),
        );
    }
    g.finish(20);
}

// ---------------------------------------------------------------------------------------------
// Sweep and lecture folders.

/// A copy of the base sweep at `<case>/sweep`.
fn sweep_copy(lab: &Lab) -> PathBuf {
    let dir = lab.case().join("sweep");
    copy_dir(&sweep_base().dir, &dir);
    dir
}

/// The id of the base sweep's entry `i`.
fn id(i: usize) -> String {
    sweep_base().ids[i].clone()
}

/// A folder's plan.json changed by `edit`.
fn edit_plan(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("plan.json");
    let mut v = read_json(&path);
    edit(&mut v);
    write_json(&path, &v);
}

fn collect(dir: &Path) -> Vec<String> {
    args(&["sweep", "collect", s(dir)])
}

/// A plan of `points` learning rates × seeds 1 and 2, none of its runs started.
fn huge_plan(points: usize) -> Value {
    let runs: Vec<Value> = (0..points * 2)
        .map(|i| {
            let id = format!("{:012x}", 0x00ab_0000_0000u64 + i as u64);
            json!({"index": i, "id": id, "point": [(i / 2 + 1) as f64 * 1e-6], "seed": i % 2 + 1,
                   "config": format!("configs/{id}.toml"), "run": format!("runs/{id}")})
        })
        .collect();
    json!({"format": "mnist-lab-sweep-1", "base": "overfit", "keys": ["optimizer.learning_rate"],
           "seeds": [1, 2], "runs": runs})
}

/// The Markdown table's rows of `collect`: the cells of each, header and rule left out.
fn collect_rows(stdout: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = stdout.lines().filter(|l| l.starts_with('|')).map(gfm_cells).collect();
    rows.into_iter().skip(2).map(|r| r.into_iter().map(|c| c.trim().to_string()).collect()).collect()
}

/// `collect` lists run `i` of the base sweep as damaged (or as not the sweep's own, for a link),
/// and does not average it: its point shows 1 of 2.
fn listed_not_averaged(i: usize) -> Check {
    Box::new(move |_, o| {
        let line = o.stdout.lines().find(|l| l.contains(&id(i))).ok_or(format!("run {i} ({}) is not listed", id(i)))?;
        if !line.contains("damaged") && !line.contains("not this sweep's own") {
            return Err(format!("run {i} is listed, but not as damaged: {line}"));
        }
        let lr = if i < 2 { "0.1" } else { "0.5" };
        match collect_rows(&o.stdout).iter().any(|r| r[0] == lr && r[1] == "1 of 2") {
            true => Ok(()),
            false => Err(format!("the point {lr} does not show `1 of 2`:\n{}", o.stdout)),
        }
    })
}

/// A copy of the base lecture at `<case>/lecture`, its handout removed (so that a handout
/// found afterwards is this command's).
fn lecture_copy(lab: &Lab) -> PathBuf {
    let dir = lab.case().join("lecture");
    copy_dir(lecture_base(), &dir);
    std::fs::remove_file(dir.join("lecture.html")).unwrap();
    std::fs::remove_file(dir.join("lecture.md")).unwrap();
    dir
}

/// The run folder (relative to the lecture) and id of `experiment`'s run.
fn lecture_run(dir: &Path, experiment: &str) -> (String, String) {
    let plan = read_json(&dir.join("plan.json"));
    let e = plan["runs"].as_array().unwrap().iter().find(|e| e["point"][0] == experiment).unwrap();
    (e["run"].as_str().unwrap().to_string(), e["id"].as_str().unwrap().to_string())
}

fn report_only(dir: &Path) -> Vec<String> {
    args(&["lecture", "--out", s(dir), "--report-only"])
}

/// The handout is written, and names the baseline's run as damaged and left out.
fn handout_names_damaged_baseline() -> Check {
    Box::new(|lab, o| {
        let dir = lab.case().join("lecture");
        if !dir.join("lecture.html").is_file() || !dir.join("lecture.md").is_file() {
            return Err("no handout written (lecture.html, lecture.md)".into());
        }
        let md = std::fs::read_to_string(dir.join("lecture.md")).unwrap();
        let (_, id) = lecture_run(&dir, "baseline");
        let said = format!("{}{}{md}", o.stdout, o.stderr);
        match said.contains("baseline at seed 1 is damaged") || (said.contains(&id) && said.contains("damaged")) {
            true => Ok(()),
            false => Err("the handout and output do not name the baseline's run as damaged".into()),
        }
    })
}

/// After exit 0: a handout that leaves planned runs out (they are not taken as what the plan says).
fn handout_leaves_runs_out() -> Check {
    Box::new(|lab, o| {
        if o.code != Some(0) {
            return Ok(());
        }
        let md = std::fs::read_to_string(lab.case().join("lecture/lecture.md")).unwrap_or_default();
        match md.contains("planned runs have no results yet") {
            true => Ok(()),
            false => Err("the handout uses every planned run: the swapped runs were taken as true".into()),
        }
    })
}

#[test]
fn sweep_and_lecture_folders() {
    let _one = ONE_GROUP_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _) = (sweep_base(), lecture_base());
    let mut g = Group::new("sweep and lecture folders");

    g.case(
        "a copy of the sweep, collect",
        Want::Ok,
        |lab| collect(&sweep_copy(lab)),
        Box::new(|_, o| {
            let rows = collect_rows(&o.stdout);
            match rows.len() == 2 && rows.iter().all(|r| r[1] == "2") {
                true => Ok(()),
                false => Err(format!("not both points at n = 2:\n{}", o.stdout)),
            }
        }),
    );

    // Writes through links placed in the sweep: nothing outside changes.
    g.case(
        "configs -> a copy outside, plan again",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            moved_out_of(lab, &dir, "configs");
            std::fs::write(lab.case().join("grid.toml"), GRID).unwrap();
            args(&["sweep", "plan", s(&lab.case().join("grid.toml")), "--out", s(&dir)])
        },
        no_check(),
    );
    g.case(
        "configs -> a copy outside, run with one run to train",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            moved_out_of(lab, &dir, "configs");
            std::fs::remove_dir_all(dir.join("runs").join(id(3))).unwrap();
            args(&["sweep", "run", s(&dir), "--jobs", "1"])
        },
        no_check(),
    );
    for (folder, jobs) in [("locks", "--index"), ("logs", "--jobs")] {
        g.case(
            &format!("{folder} -> an empty folder outside, run {jobs}"),
            Want::Either,
            move |lab| {
                let dir = sweep_copy(lab);
                let _ = std::fs::remove_dir_all(dir.join(folder));
                link(&lab.outside_dir(), &dir.join(folder));
                std::fs::remove_dir_all(dir.join("runs").join(id(3))).unwrap();
                let how = if jobs == "--index" { "3" } else { "2" };
                args(&["sweep", "run", s(&dir), jobs, how])
            },
            no_check(),
        );
    }
    for (file, how) in [("logs/ID.log", ["--jobs", "1"]), ("locks/ID.lock", ["--index", "3"])] {
        g.case(
            &format!("{file} -> victim, run {}", how.join(" ")),
            Want::Either,
            move |lab| {
                let dir = sweep_copy(lab);
                let path = dir.join(file.replace("ID", &id(3)));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                link(&lab.victim(), &path);
                std::fs::remove_dir_all(dir.join("runs").join(id(3))).unwrap();
                [&["sweep", "run", s(&dir)][..], &how].concat().iter().map(|a| a.to_string()).collect()
            },
            no_check(),
        );
    }
    g.case(
        "runs/ID (unfinished) -> a copy outside, run --index",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            std::fs::remove_file(dir.join("runs").join(id(3)).join("summary.json")).unwrap();
            moved_out_of(lab, &dir, &format!("runs/{}", id(3)));
            args(&["sweep", "run", s(&dir), "--index", "3"])
        },
        no_check(),
    );
    g.case(
        "runs/ID/checkpoints -> a copy outside, run --index",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            std::fs::remove_file(dir.join("runs").join(id(3)).join("summary.json")).unwrap();
            moved_out_of(lab, &dir, &format!("runs/{}/checkpoints", id(3)));
            args(&["sweep", "run", s(&dir), "--index", "3"])
        },
        no_check(),
    );
    g.case(
        "runs -> a copy outside missing one run, run --jobs 1",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            std::fs::remove_dir_all(dir.join("runs").join(id(3))).unwrap();
            moved_out_of(lab, &dir, "runs");
            args(&["sweep", "run", s(&dir), "--jobs", "1"])
        },
        no_check(),
    );
    g.case(
        "report.svg -> victim beside collect's --out inside the sweep",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            link(&lab.victim(), &dir.join("report.svg"));
            args(&["sweep", "collect", s(&dir), "--out", s(&dir.join("report.html"))])
        },
        no_check(),
    );

    // Tampered plans are not taken as true.
    g.case(
        "plan.json with two entries' points swapped, collect",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            edit_plan(&dir, |p| {
                let (a, b) = (p["runs"][0]["point"].clone(), p["runs"][2]["point"].clone());
                (p["runs"][0]["point"], p["runs"][2]["point"]) = (b, a);
            });
            collect(&dir)
        },
        Box::new(|_, o| {
            if o.code != Some(0) {
                return Ok(());
            }
            if collect_rows(&o.stdout).iter().any(|r| r[1] == "2") {
                return Err(format!("a point averaged over both seeds, the swapped runs taken as true:\n{}", o.stdout));
            }
            match o.stdout.contains("not this sweep's own") {
                true => Ok(()),
                false => Err("the swapped runs are not listed as not this sweep's own".into()),
            }
        }),
    );
    g.case(
        "plan.json's seeds [1, 1], collect",
        Want::Refused,
        |lab| {
            let dir = sweep_copy(lab);
            edit_plan(&dir, |p| p["seeds"] = json!([1, 1]));
            collect(&dir)
        },
        no_check(),
    );
    g.case(
        "plan.json with one seed run twice at a point, collect",
        Want::Refused,
        |lab| {
            let dir = sweep_copy(lab);
            edit_plan(&dir, |p| p["runs"][1]["seed"] = json!(1));
            collect(&dir)
        },
        no_check(),
    );
    g.case(
        "plan.json entry whose run is ../outside/dir, run --index",
        Want::Refused,
        |lab| {
            let dir = sweep_copy(lab);
            edit_plan(&dir, |p| p["runs"][0]["run"] = json!("../../outside/dir"));
            args(&["sweep", "run", s(&dir), "--index", "0"])
        },
        no_check(),
    );

    // Size and time: 100 000 entries, none started.
    g.case(
        "plan.json of 100 000 entries, none started, collect",
        Want::Ok,
        |lab| {
            let dir = lab.case().join("sweep");
            std::fs::create_dir(&dir).unwrap();
            write_json(&dir.join("plan.json"), &huge_plan(50_000));
            collect(&dir)
        },
        Box::new(|_, o| {
            let rows = collect_rows(&o.stdout);
            if rows.len() != 50_000 || !rows.iter().all(|r| r[1] == "0 of 2") {
                return Err(format!("{} rows, not 50 000 at `0 of 2`", rows.len()));
            }
            let listed = o.stdout.lines().filter(|l| l.starts_with("- run ")).count();
            if listed > 1000 {
                return Err(format!("lists {listed} runs one by one"));
            }
            match o.stderr.contains("100000 of 100000 runs have not finished") {
                true => Ok(()),
                false => Err(format!("no warning that none has finished: {}", o.stderr)),
            }
        }),
    );

    // Unbounded reads in a sweep.
    let plan_files: Vec<(&str, Make)> = vec![
        ("a sparse 600 MiB file", Box::new(|p| sparse(p, 600 << 20))),
        ("a sparse 400 MiB file (under its cap)", Box::new(|p| sparse(p, 400 << 20))),
        ("a FIFO", Box::new(|p| replace_with(p, Special::Fifo))),
        ("a folder", Box::new(|p| replace_with(p, Special::Dir))),
        ("a link to /dev/zero", Box::new(|p| replace_with(p, Special::DevZero))),
    ];
    for (what, make) in plan_files {
        g.case(
            &format!("plan.json is {what}, collect"),
            Want::Refused,
            move |lab| {
                let dir = sweep_copy(lab);
                make(&dir.join("plan.json"));
                collect(&dir)
            },
            no_check(),
        );
    }
    for (what, make) in
        [("a FIFO", (|p| replace_with(p, Special::Fifo)) as fn(&Path)), ("a sparse 3 GiB file", |p| sparse(p, 3 << 30))]
    {
        g.case(
            &format!("configs/ID.toml is {what}, run --index"),
            Want::Refused,
            move |lab| {
                let dir = sweep_copy(lab);
                std::fs::remove_dir_all(dir.join("runs").join(id(3))).unwrap();
                make(&dir.join("configs").join(format!("{}.toml", id(3))));
                args(&["sweep", "run", s(&dir), "--index", "3"])
            },
            no_check(),
        );
    }
    // One damaged run: listed, not averaged, the rest collected.
    let damaged: Vec<(&str, Make)> = vec![
        ("summary.json is a sparse 2 GiB file", Box::new(|r| sparse(&r.join("summary.json"), 2 << 30))),
        ("history.csv is a link to /dev/zero", Box::new(|r| replace_with(&r.join("history.csv"), Special::DevZero))),
        ("history.csv is a FIFO", Box::new(|r| replace_with(&r.join("history.csv"), Special::Fifo))),
        (
            "history.csv is a sparse 500 MiB file (under its cap)",
            Box::new(|r| sparse(&r.join("history.csv"), 500 << 20)),
        ),
        (
            "summary.json's preset has a newline",
            Box::new(|r| edit_summary(r, |v| v["preset"] = json!("overfit\n| 0.1 | 2 | 99.99 ± 0.00 | 1.0 ± 0.0 |"))),
        ),
        ("summary.json's dataset is unknown", Box::new(|r| edit_summary(r, |v| v["dataset"] = json!("cifar-10")))),
    ];
    for (what, make) in damaged {
        g.case(
            &format!("run 0's {what}, collect"),
            Want::Ok,
            move |lab| {
                let dir = sweep_copy(lab);
                make(&dir.join("runs").join(id(0)));
                collect(&dir)
            },
            listed_not_averaged(0),
        );
    }
    // Output injection through the plan's own words.
    g.case(
        "grid points with `\\|` and a newline, collect --out",
        Want::Either,
        |lab| {
            let dir = sweep_copy(lab);
            edit_plan(&dir, |p| {
                p["keys"] = json!(["note"]);
                for i in 0..4 {
                    p["runs"][i]["point"] = match i < 2 {
                        true => json!(["a\\| forged | cell"]),
                        false => json!(["b\n| forged | 2 | 99.99 ± 0.00 | 1.0 ± 0.0 |"]),
                    };
                }
            });
            args(&["sweep", "collect", s(&dir), "--out", s(&lab.case().join("report.md"))])
        },
        Box::new(|lab, o| {
            if o.code != Some(0) {
                return Ok(());
            }
            one_table(&o.stdout, 2).map_err(|e| format!("stdout: {e}"))?;
            let md = std::fs::read_to_string(lab.case().join("report.md")).unwrap_or_default();
            one_table(&md, 2).map_err(|e| format!("report.md: {e}"))
        }),
    );

    // Lecture folders: `lecture --report-only` on a copy.
    g.case(
        "a copy of the lecture, report-only",
        Want::Ok,
        |lab| report_only(&lecture_copy(lab)),
        Box::new(|lab, _| {
            let dir = lab.case().join("lecture");
            let md = std::fs::read_to_string(dir.join("lecture.md")).map_err(|e| format!("lecture.md: {e}"))?;
            match md.contains("planned runs have no results yet") || md.contains("damaged") {
                true => Err("the untouched copy has runs left out".into()),
                false => Ok(()),
            }
        }),
    );
    let baseline_damage: Vec<(&str, Make)> = vec![
        (
            "model.bpk truncated to half",
            Box::new(|r| {
                let p = r.join("model.bpk");
                truncate(&p, std::fs::metadata(&p).unwrap().len() / 2)
            }),
        ),
        ("model.bpk a FIFO", Box::new(|r| replace_with(&r.join("model.bpk"), Special::Fifo))),
        ("model.bpk a sparse 4 GiB file", Box::new(|r| sparse(&r.join("model.bpk"), 4 << 30))),
        ("history.csv a sparse 3 GiB file", Box::new(|r| sparse(&r.join("history.csv"), 3 << 30))),
        ("history.csv a sparse 500 MiB file (under its cap)", Box::new(|r| sparse(&r.join("history.csv"), 500 << 20))),
        (
            "summary.json's preset with a newline",
            Box::new(|r| edit_summary(r, |v| v["preset"] = json!("baseline\n| forged |"))),
        ),
        ("summary.json's dataset unknown", Box::new(|r| edit_summary(r, |v| v["dataset"] = json!("cifar-10")))),
    ];
    for (what, damage) in baseline_damage {
        g.case(
            &format!("the baseline run's {what}, report-only"),
            Want::Either,
            move |lab| {
                let dir = lecture_copy(lab);
                damage(&dir.join(lecture_run(&dir, "baseline").0));
                report_only(&dir)
            },
            handout_names_damaged_baseline(),
        );
    }
    for file in ["lecture.html", "lecture.md", "figures/s1-c1-1.png", "figures/s1-c1-1.svg"] {
        g.case(
            &format!("{file} -> victim, report-only"),
            Want::Either,
            move |lab| {
                let dir = lecture_copy(lab);
                link(&lab.victim(), &dir.join(file));
                report_only(&dir)
            },
            no_check(),
        );
    }
    g.case(
        "figures -> an empty folder outside, report-only",
        Want::Either,
        |lab| {
            let dir = lecture_copy(lab);
            link(&lab.outside_dir(), &dir.join("figures"));
            report_only(&dir)
        },
        no_check(),
    );
    for folder in ["runs", "configs", "locks"] {
        g.case(
            &format!("{folder} -> a copy outside, report-only"),
            Want::Either,
            move |lab| {
                let dir = lecture_copy(lab);
                std::fs::create_dir_all(dir.join(folder)).unwrap();
                moved_out_of(lab, &dir, folder);
                report_only(&dir)
            },
            no_check(),
        );
    }
    g.case(
        "the baseline's run folder -> a copy outside, report-only",
        Want::Either,
        |lab| {
            let dir = lecture_copy(lab);
            let (run, _) = lecture_run(&dir, "baseline");
            moved_out_of(lab, &dir, &run);
            report_only(&dir)
        },
        handout_leaves_runs_out(),
    );
    g.case(
        "plan.json with baseline's and monster's points swapped, report-only",
        Want::Either,
        |lab| {
            let dir = lecture_copy(lab);
            edit_plan(&dir, |p| {
                let runs = p["runs"].as_array_mut().unwrap();
                let a = runs.iter().position(|e| e["point"][0] == "baseline").unwrap();
                let b = runs.iter().position(|e| e["point"][0] == "monster").unwrap();
                let (pa, pb) = (runs[a]["point"].clone(), runs[b]["point"].clone());
                (runs[a]["point"], runs[b]["point"]) = (pb, pa);
            });
            report_only(&dir)
        },
        handout_leaves_runs_out(),
    );
    g.case(
        "plan.json a FIFO, report-only",
        Want::Refused,
        |lab| {
            let dir = lecture_copy(lab);
            replace_with(&dir.join("plan.json"), Special::Fifo);
            report_only(&dir)
        },
        no_check(),
    );
    g.finish(10);
}
