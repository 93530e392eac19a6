use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::{Tensor, TensorData};
use clap::Args;
use formats::config::Output;
use formats::error;
use formats::idx::{CLASSES, PIXELS};

use super::BackendArg;
use crate::backend;
use crate::data::image_input::{is_blank, load_digit};
use crate::run::RunDir;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A run directory written by `train`.
    pub run_dir: PathBuf,
    /// PNG or JPEG images of single digits, any size or colour.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many of the most likely digits to show.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    #[command(flatten)]
    pub backend: BackendArg,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let cfg = run.config()?;
    let device = backend::select(args.backend.backend)?.device;
    let model = run.load_model(&cfg, &device)?;
    let Digits { images, pixels, mut failures } = digits(&args.images)?;
    let x = Tensor::<2>::from_data(TensorData::new(pixels, [images.len(), PIXELS]), &device);
    let mut scores = model.outputs(model.forward(x));
    // Sigmoid outputs are ten independent yes/no scores: normalise them to read as probabilities.
    if cfg.model.output == Output::Sigmoid {
        scores = scores.clone().div(scores.sum_dim(1));
    }
    let scores: Vec<f32> = scores
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| error::runtime(format!("cannot read the predictions back: {e:?}")))?;
    for (path, p) in images.iter().zip(scores.chunks_exact(CLASSES)) {
        if p.iter().any(|q| !q.is_finite()) {
            return Err(error::runtime(format!(
                "the network's outputs for {} are not numbers (NaN or ∞): its weights overflow on this image",
                path.display()
            )));
        }
        let mut ranked: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let digit = ranked[0].0;
        if args.json {
            let line = serde_json::json!({ "image": path.display().to_string(), "digit": digit, "probabilities": p });
            outln!("{line}");
        } else {
            let top: Vec<String> =
                ranked.iter().take(args.top.max(1)).map(|(d, q)| format!("{d}: {:.1} %", q * 100.0)).collect();
            outln!("{}: {digit}  ({})", path.display(), top.join(", "));
        }
    }
    // Like `cat a missing b`: the others are read, each failure named, and the exit code says so.
    match failures.pop() {
        Some(last) => {
            for e in failures {
                errln!("error: {}", crate::console::error_line(&format!("{e:#}")));
            }
            Err(last)
        }
        None => Ok(()),
    }
}

struct Digits<'a> {
    images: Vec<&'a PathBuf>,
    pixels: Vec<f32>,
    /// The images that could not be read, in order.
    failures: Vec<anyhow::Error>,
}

/// The images that hold a digit, with their pixels. A blank one (no ink) gets a warning and no
/// prediction, rather than the network's guess for an empty field; an unreadable one is kept
/// for the end; none to predict at all is an error.
fn digits(paths: &[PathBuf]) -> Result<Digits<'_>> {
    let mut pixels = Vec::with_capacity(paths.len() * PIXELS);
    let (mut inked, mut blank, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for path in paths {
        let digit = match load_digit(path) {
            Ok(digit) => digit,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if is_blank(&digit) {
            blank.push(path);
        } else {
            pixels.extend_from_slice(&digit);
            inked.push(path);
        }
    }
    let why = "holds no ink (a blank page, or too little contrast to tell a stroke from the paper)";
    if inked.is_empty() && !failures.is_empty() {
        for path in blank {
            errln!("warning: {} {why}; no prediction for it", path.display());
        }
        let last = failures.pop().expect("not empty");
        for e in failures {
            errln!("error: {}", crate::console::error_line(&format!("{e:#}")));
        }
        return Err(last);
    }
    match (inked.is_empty(), blank.as_slice()) {
        (true, [one]) => return Err(error::data(format!("{} {why}", one.display()))),
        (true, _) => {
            return Err(error::data(format!("none of the {} images holds ink: no digit to read", blank.len())));
        }
        _ => {}
    }
    for path in blank {
        errln!("warning: {} {why}; no prediction for it", path.display());
    }
    Ok(Digits { images: inked, pixels, failures })
}
