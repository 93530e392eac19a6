//! Checkpoints: after every epoch the model, the optimizer state (Adadelta/Adam accumulators…),
//! the schedule, the early-stopping counters and the history go to `checkpoints/epoch-NNNN/`,
//! built under a temporary name and renamed, then `checkpoints/latest` is pointed at it. A run
//! killed at any moment resumes from the last complete epoch.
//!
//! Shuffling, augmentation and dropout are seeded per epoch from the run's seed, so there is no
//! random-generator position to save: a resumed run repeats an uninterrupted one.
//!
//! Resuming checks what it reads: state.json's values ([`ResumeState::parse`]), weights that are
//! numbers, and an optimizer state laid out exactly as this run's optimizer keeps it for this
//! network (Burn would silently start a foreign or truncated state afresh).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::store::burn_pack::{Bytes, Reader};
use burn::tensor::{Device, Tensor};
use formats::config::ExperimentConfig;
use formats::idx::PIXELS;
use formats::{error, read};

use super::optim;
use crate::files::{check_inside, create_dir_inside, write_inside};
use crate::model::Mlp;

pub use formats::resume_state::ResumeState;

pub const DIR: &str = "checkpoints";
pub const LATEST: &str = "latest";
const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const BEST: &str = "best.bpk";

/// A checkpoint read back: the models live on the autodiff device given to [`load`].
pub struct Checkpoint {
    pub model: Mlp,
    pub optimizer: ModuleOptimizer,
    pub best: Option<Mlp>,
    pub state: ResumeState,
}

/// Write the checkpoint of a completed epoch into `run/checkpoints/`.
pub fn save(
    run: &Path,
    model: &Mlp,
    optimizer: &ModuleOptimizer,
    best: Option<&Mlp>,
    state: &ResumeState,
) -> Result<()> {
    let root = run.join(DIR);
    let name = format!("epoch-{:04}", state.epoch);
    let tmp = root.join(format!(".{name}.tmp-{}", std::process::id()));
    let dir = root.join(&name);
    // Nothing below the run is followed: a link at checkpoints/ would take every write elsewhere.
    check_inside(run, &dir)?;
    let _ = fs::remove_dir_all(&tmp);
    let built = (|| -> Result<()> {
        create_dir_inside(run, &tmp)?;
        let optim =
            optimizer.into_bytes().map_err(|e| error::runtime(format!("cannot serialise the optimizer: {e}")))?;
        write_inside(run, &tmp.join(OPTIMIZER), &optim)?;
        write_inside(run, &tmp.join(MODEL), &model.to_bytes()?)?;
        if let Some(best) = best {
            write_inside(run, &tmp.join(BEST), &best.to_bytes()?)?;
        }
        let state = serde_json::to_string_pretty(state).expect("the state serialises");
        write_inside(run, &tmp.join(STATE), state.as_bytes())?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir).with_context(|| format!("cannot rename {} to {}", tmp.display(), dir.display()))
    })();
    if built.is_err() {
        // A full disk: the half-built folder would only take more of it.
        let _ = fs::remove_dir_all(&tmp);
    }
    built?;
    let previous = newest(run).ok().flatten();
    write_inside(run, &root.join(LATEST), name.as_bytes())?;
    // Only now is the older checkpoint no longer needed.
    if let Some(prev) = previous.filter(|p| *p != dir) {
        let _ = fs::remove_dir_all(prev);
    }
    Ok(())
}

/// The directory of the newest complete checkpoint of `run`.
pub fn latest(run: &Path) -> Result<PathBuf> {
    newest(run)?.ok_or_else(|| {
        let pointer = run.join(DIR).join(LATEST);
        error::data(format!("{} has no checkpoint to resume from (no {})", run.display(), pointer.display()))
    })
}

/// The newest complete checkpoint of `run`: `None` only when it has no pointer at all (it never
/// finished an epoch). A pointer that is there but unreadable, not ours, or naming a folder that
/// is missing is a data error: the run is damaged, and nothing in it may be taken for unstarted.
pub fn newest(run: &Path) -> Result<Option<PathBuf>> {
    let pointer = run.join(DIR).join(LATEST);
    match fs::symlink_metadata(&pointer) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let damaged = |why: String| {
        error::data(format!(
            "{} {why}; the run's checkpoints are left as they are (repair or remove the pointer by hand)",
            pointer.display()
        ))
    };
    let name = read::read_to_string(&pointer, read::NOTE).map_err(|e| damaged(format!("cannot be read ({e:#})")))?;
    let name = name.trim();
    let epoch = name.strip_prefix("epoch-").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if epoch.and_then(|n| n.parse::<usize>().ok()).is_none() {
        let shown: String = name.chars().take(40).collect();
        return Err(damaged(format!("is not a checkpoint pointer (it holds {shown:?}, not epoch-NNNN)")));
    }
    let dir = run.join(DIR).join(name);
    if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Err(damaged(format!("names {name}, which is not a folder beside it")));
    }
    Ok(Some(dir))
}

/// How many epochs the newest checkpoint of `run` holds (from its folder name, `epoch-NNNN`).
pub fn completed_epochs(run: &Path) -> Result<usize> {
    let dir = latest(run)?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.trim_start_matches("epoch-")
        .parse()
        .map_err(|_| error::data(format!("{} is not a checkpoint folder name", dir.display())))
}

/// Read the newest checkpoint of `run` for the network of `cfg`, onto `device` (autodiff).
pub fn load(
    run: &Path,
    cfg: &ExperimentConfig,
    device: &Device,
    fresh_optimizer: ModuleOptimizer,
) -> Result<Checkpoint> {
    let dir = latest(run)?;
    let state_path = dir.join(STATE);
    let text = read::read_to_string(&state_path, read::STATE)?;
    let state = ResumeState::parse(&text, &state_path.display().to_string())?;
    let done = completed_epochs(run)?;
    if state.epoch != done {
        return Err(error::data(format!(
            "{}: says {} epochs are complete, its folder {}",
            state_path.display(),
            state.epoch,
            dir.display()
        )));
    }
    state.check_against(cfg).map_err(|why| error::data(format!("{}: {why}", state_path.display())))?;
    let model_path = dir.join(MODEL);
    let model_bpk = Mlp::read_file(&model_path, cfg)?;
    let params = parameters(&model_bpk, &model_path)?;
    let model = Mlp::from_bytes(model_bpk, &model_path, cfg, device)?;
    let best_path = dir.join(BEST);
    let best = best_path.exists().then(|| Mlp::read_file(&best_path, cfg)).transpose()?;
    let best = best.map(|b| Mlp::from_bytes(b, &best_path, cfg, device)).transpose()?;
    let optim_path = dir.join(OPTIMIZER);
    // At most four slots a weight (AMSGrad's m, v and v̂, centred RMSprop's three) and the step.
    let bytes = read::read(&optim_path, read::weights("optimizer state", 4 * cfg.model.parameters() as u64))?;
    let foreign =
        |why: String| error::data(format!("{} is not this run's optimizer state: {why}", optim_path.display()));
    let found = layout(&bytes, &params).map_err(foreign)?;
    let wanted = reference_layout(cfg, device)?;
    if found != wanted {
        return Err(foreign(describe_mismatch(cfg, &found, &wanted)));
    }
    let optimizer = fresh_optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| error::data(format!("{} is not a valid optimizer state: {e}", optim_path.display())))?;
    Ok(Checkpoint { model, optimizer, best, state })
}

/// Remove what a killed run left half-written in `run/checkpoints/`: `.epoch-NNNN.tmp-PID/`
/// folders and pointer temporaries, and any epoch folder but the newest complete one. A damaged
/// pointer is an error and nothing is removed: which folder to keep is then unknown.
pub fn clean_partial(run: &Path) -> Result<()> {
    let root = run.join(DIR);
    // Its deletions stay inside the run: a checkpoints/ that is a link is refused.
    check_inside(run, &root)?;
    let keep = newest(run)?;
    let Ok(entries) = fs::read_dir(&root) else { return Ok(()) };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let partial = name.starts_with('.') && name.contains(".tmp-");
        let stale = name.starts_with("epoch-") && keep.as_deref() != Some(entry.path().as_path());
        if !(partial || stale) {
            continue;
        }
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(entry.path()),
            _ => fs::remove_file(entry.path()),
        };
    }
    Ok(())
}

/// Per parameter, by its name in the model (`layers.0.weight`…): each tensor or scalar the
/// optimizer keeps for it, with its shape (scalars: none).
type Layout = BTreeSet<(String, String, Vec<usize>)>;

/// The parameters of a burnpack model: id → (name, shape).
fn parameters(model_bpk: &[u8], path: &Path) -> Result<HashMap<u64, (String, Vec<usize>)>> {
    let bad = |e: String| error::data(format!("{} is not a valid model file: {e}", path.display()));
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(model_bpk.to_vec())).map_err(|e| bad(e.to_string()))?;
    let tensors = reader.into_tensors().map_err(|e| bad(e.to_string()))?;
    Ok(tensors.into_iter().filter_map(|t| Some((t.param_id?, (t.name, t.shape.to_vec())))).collect())
}

/// The layout of an optimizer state (burnpack, entries named `{param id}.{field}`) against the
/// model's parameters; an entry for a parameter the model does not have is an error.
fn layout(optimizer_bpk: &[u8], params: &HashMap<u64, (String, Vec<usize>)>) -> Result<Layout, String> {
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(optimizer_bpk.to_vec())).map_err(|e| e.to_string())?;
    let scalars: Vec<String> = reader.scalars().keys().cloned().collect();
    let tensors = reader.into_tensors().map_err(|e| e.to_string())?;
    let entries =
        tensors.into_iter().map(|t| (t.name, t.shape.to_vec())).chain(scalars.into_iter().map(|k| (k, vec![])));
    let mut out = Layout::new();
    for (name, shape) in entries {
        let (id, field) = name.split_once('.').ok_or_else(|| format!("unexpected entry `{name}`"))?;
        let param = id.parse::<u64>().ok().and_then(|id| params.get(&id));
        let Some((param, _)) = param else {
            return Err(format!("it holds state for a parameter ({id}) the model does not have: another network's"));
        };
        out.insert((param.clone(), field.to_string(), shape));
    }
    Ok(out)
}

/// The layout `cfg`'s optimizer gives `cfg`'s network after one step.
fn reference_layout(cfg: &ExperimentConfig, device: &Device) -> Result<Layout> {
    let model = Mlp::new(&cfg.model, device);
    let mut optimizer = optim::build(&cfg.optimizer);
    let loss = model.forward(Tensor::ones([1, PIXELS], device)).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(cfg.optimizer.learning_rate(), model, grads);
    let bytes = optimizer.into_bytes().map_err(|e| error::runtime(format!("cannot serialise the optimizer: {e}")))?;
    let params = parameters(&model.to_bytes()?, Path::new(MODEL))?;
    layout(&bytes, &params).map_err(error::runtime)
}

/// Why two layouts differ, in the terms a user can act on.
fn describe_mismatch(cfg: &ExperimentConfig, found: &Layout, wanted: &Layout) -> String {
    let fields = |l: &Layout| l.iter().map(|e| e.1.clone()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>();
    let (have, want) = (fields(found), fields(wanted));
    let name = cfg.optimizer.name();
    if have != want {
        return format!(
            "it keeps [{}] per weight where {name} keeps [{}]: another optimizer's",
            have.join(", "),
            want.join(", ")
        );
    }
    "its shapes or parameters differ from this network's: another architecture's, or an incomplete file".into()
}
