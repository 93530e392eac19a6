//! Learning-curve and confusion-matrix pictures (plotters).
//!
//! Every figure is drawn once per backend by the same generic code ([`Figure::draw`]), so the
//! SVG and the PNG always show the same thing. Both are rendered in memory and written with
//! [`write_atomic`], so a crash never leaves half a picture behind.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, bail};
use formats::history::{EpochMetrics, History};
use image::{ColorType, ImageEncoder, codecs::png::PngEncoder};
use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::files::write_atomic;
use crate::train::ConfusionMatrix;

/// Two panels side by side: loss (train vs validation) and accuracy (train vs validation) per epoch,
/// best epoch marked with a vertical line/marker and labelled, title on top. Writes both files.
pub fn learning_curves(
    history: &History,
    best_epoch: Option<usize>,
    title: &str,
    svg: &Path,
    png: &Path,
) -> Result<()> {
    render(&Figure::Curves { history, best_epoch, title }, svg, png)
}

/// 10×10 confusion matrix heat map (rows = true label, columns = predicted), counts written in the cells, axes labelled.
pub fn confusion_matrix(matrix: &ConfusionMatrix, title: &str, svg: &Path, png: &Path) -> Result<()> {
    render(&Figure::Confusion { matrix: &matrix.0, title }, svg, png)
}

/// Validation accuracy curves of several runs on one chart (fall back to train accuracy when a run has no validation), legend with run names.
pub fn overlay(runs: &[(String, History)], title: &str, svg: &Path, png: &Path) -> Result<()> {
    render(&Figure::Overlay { runs, title }, svg, png)
}

/// A mean curve with its spread: its label and `(epoch, mean, std)` points.
pub type MeanCurve = (String, Vec<(f64, f64, f64)>);

/// Several mean curves, each in a shaded band of ± one standard deviation (a sweep's grid points
/// over their seeds). Writes both files.
pub fn bands(curves: &[MeanCurve], title: &str, y_desc: &str, svg: &Path, png: &Path) -> Result<()> {
    render(&Figure::Bands { curves, title, x_desc: "epoch", y_desc, best: None }, svg, png)
}

/// [`bands`] against any x (`x_desc` names it: epochs, seconds, weight updates), with the epoch
/// `best` marked (a dashed line, and each curve's point there circled).
pub fn bands_against(
    curves: &[MeanCurve],
    title: &str,
    (x_desc, y_desc): (&str, &str),
    best: Option<f64>,
    svg: &Path,
    png: &Path,
) -> Result<()> {
    render(&Figure::Bands { curves, title, x_desc, y_desc, best }, svg, png)
}

// With plotters' `ab_glyph` feature there are no system fonts: the bitmap backend can only draw
// text with a font registered by hand. The SVG backend just names the family ("sans-serif").
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok())
}

const TRAIN: RGBColor = RGBColor(31, 119, 180); // matplotlib's tab10, familiar to readers
const VALID: RGBColor = RGBColor(255, 127, 14);
const BEST: RGBColor = RGBColor(90, 90, 90);
const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

enum Figure<'a> {
    Curves { history: &'a History, best_epoch: Option<usize>, title: &'a str },
    Confusion { matrix: &'a [[u64; 10]; 10], title: &'a str },
    Overlay { runs: &'a [(String, History)], title: &'a str },
    Bands { curves: &'a [MeanCurve], title: &'a str, x_desc: &'a str, y_desc: &'a str, best: Option<f64> },
}

/// Draws `fig` into an SVG string and an RGB buffer, then writes both files.
fn render(fig: &Figure, svg: &Path, png: &Path) -> Result<()> {
    if !font_ready() {
        bail!("the embedded font could not be loaded");
    }
    let (w, h) = fig.size();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present()?;
    }
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present()?;
    }
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded).write_image(&rgb, w, h, ColorType::Rgb8)?;
    write_atomic(svg, text.as_bytes())?;
    write_atomic(png, &encoded)
}

impl Figure<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Figure::Curves { history, .. } if has_gradients(history) => (1800, 540),
            Figure::Curves { .. } => (1280, 540),
            Figure::Confusion { .. } => (760, 780),
            Figure::Overlay { .. } | Figure::Bands { .. } => {
                let below = self.legend_below().map_or(0, |labels| LegendGrid::new(&labels, CHART_WIDTH).height());
                (CHART_WIDTH, CHART_HEIGHT + below)
            }
        }
    }

    /// The labels and colours of a chart of many curves, whose legend goes under the chart:
    /// in a corner of it, more than [`LEGEND_INSIDE`] labels would run off the picture.
    fn legend_below(&self) -> Option<Vec<(String, RGBColor)>> {
        let labels: Vec<(String, RGBColor)> = match *self {
            Figure::Overlay { runs, .. } => overlay_curves(runs).into_iter().map(|(l, c, _)| (l, c)).collect(),
            Figure::Bands { curves, .. } => curves.iter().enumerate().map(|(i, c)| (c.0.clone(), color(i))).collect(),
            _ => return None,
        };
        (labels.len() > LEGEND_INSIDE).then_some(labels)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match *self {
            Figure::Curves { history, best_epoch, title } => {
                let columns = if has_gradients(history) { 3 } else { 2 };
                let panels = root.margin(10, 0, 0, 0).titled(title, (FONT, 28))?.split_evenly((1, columns));
                let loss = [
                    ("train loss", TRAIN, series(history, |e| Some(e.train_loss))),
                    ("validation loss", VALID, series(history, |e| e.val_loss)),
                ];
                let acc = [
                    ("train accuracy", TRAIN, series(history, |e| Some(e.train_accuracy))),
                    ("validation accuracy", VALID, series(history, |e| e.val_accuracy)),
                ];
                let best = best_epoch.map(|b| b as f64);
                panel(&panels[0], "loss", ("epoch", "loss"), &loss, &[], best, true)?;
                panel(&panels[1], "accuracy", ("epoch", "accuracy"), &acc, &[], best, true)?;
                if let Some(area) = panels.get(2) {
                    let desc = ("epoch", "log10 of the mean |gradient|");
                    panel(area, "gradient by layer", desc, &gradient_curves(history), &[], None, true)?;
                }
            }
            Figure::Overlay { runs, title } => {
                let curves = overlay_curves(runs);
                let (chart, legend) = self.split_for_legend(root);
                panel(&chart.margin(6, 6, 6, 6), title, ("epoch", "accuracy"), &curves, &[], None, legend.is_none())?;
                if let (Some(area), Some(labels)) = (legend, self.legend_below()) {
                    draw_legend(&area, &labels)?;
                }
            }
            Figure::Bands { curves, title, x_desc, y_desc, best } => {
                let lines: Vec<Curve<&str>> = curves
                    .iter()
                    .enumerate()
                    .map(|(i, (name, p))| (name.as_str(), color(i), p.iter().map(|q| (q.0, q.1)).collect()))
                    .collect();
                let spread: Vec<Spread> = curves
                    .iter()
                    .enumerate()
                    .map(|(i, (_, p))| (color(i), p.iter().map(|q| (q.0, q.1 - q.2, q.1 + q.2)).collect()))
                    .collect();
                let (chart, legend) = self.split_for_legend(root);
                let desc = (x_desc, y_desc);
                panel(&chart.margin(6, 6, 6, 6), title, desc, &lines, &spread, best, legend.is_none())?;
                if let (Some(area), Some(labels)) = (legend, self.legend_below()) {
                    draw_legend(&area, &labels)?;
                }
            }
            Figure::Confusion { matrix, title } => heat_map(root, matrix, title)?,
        }
        Ok(())
    }

    /// The chart's area, and under it the legend's when the legend goes there.
    fn split_for_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> (DrawingArea<DB, Shift>, Option<DrawingArea<DB, Shift>>) {
        match self.legend_below() {
            Some(_) => {
                let (chart, legend) = root.split_vertically(CHART_HEIGHT);
                (chart, Some(legend))
            }
            None => (root.clone(), None),
        }
    }
}

/// The size of a chart of several runs, without a legend under it.
const CHART_WIDTH: u32 = 960;
const CHART_HEIGHT: u32 = 600;
/// Up to this many labels the legend sits in a corner of the chart.
const LEGEND_INSIDE: usize = 12;
const LEGEND_FONT: u32 = 14;
const LEGEND_ROW: u32 = 20;
const LEGEND_PAD: u32 = 16;
const LEGEND_MIN_COLUMNS: u32 = 2;
/// The colour swatch and the gap after it, before a label's text.
const LEGEND_SWATCH: u32 = 30;

fn color(i: usize) -> RGBColor {
    TAB10[i % TAB10.len()]
}

/// Each run's validation accuracy (train accuracy, said in its label, when it had no validation
/// split).
fn overlay_curves(runs: &[(String, History)]) -> Vec<Curve<String>> {
    runs.iter()
        .enumerate()
        .map(|(i, (name, h))| {
            let val = series(h, |e| e.val_accuracy);
            let (label, points) = if val.is_empty() {
                (format!("{name} (train)"), series(h, |e| Some(e.train_accuracy)))
            } else {
                (name.clone(), val)
            };
            (label, color(i), points)
        })
        .collect()
}

/// A legend in columns (filled top to bottom), as many as the widest label allows, with its rows
/// making the picture taller: every label stays on the picture however many runs there are.
struct LegendGrid {
    rows: usize,
    column_width: u32,
}

impl LegendGrid {
    fn new(labels: &[(String, RGBColor)], width: u32) -> Self {
        let inner = width - 2 * LEGEND_PAD;
        // One long name must not leave the others in a single column: longer ones are cut.
        let cap = inner / LEGEND_MIN_COLUMNS - LEGEND_SWATCH - LEGEND_PAD;
        let widest = labels.iter().map(|(l, _)| text_width(l)).max().unwrap_or(0).min(cap) + LEGEND_SWATCH + LEGEND_PAD;
        let columns = ((inner / widest.max(1)) as usize).clamp(1, labels.len().max(1));
        let rows = labels.len().div_ceil(columns);
        Self { rows, column_width: inner / columns as u32 }
    }

    fn height(&self) -> u32 {
        self.rows as u32 * LEGEND_ROW + 2 * LEGEND_PAD
    }
}

fn legend_font() -> FontDesc<'static> {
    (FONT, LEGEND_FONT).into_font()
}

/// A text's width in the legend's font (from the embedded font, as the PNG draws it).
fn text_width(text: &str) -> u32 {
    legend_font().box_size(text).map_or(text.chars().count() as u32 * LEGEND_FONT, |(w, _)| w)
}

/// `text` cut in the middle with "…" to at most `width` pixels: run names often differ only at
/// their ends (a seed, a learning rate).
fn fit(text: &str, width: u32) -> String {
    if text_width(text) <= width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    // No glyph is narrower than 3 pixels: a longer cut would not fit anyway.
    for keep in (0..chars.len().min(width as usize / 3)).rev() {
        let (head, tail) = (keep.div_ceil(2), keep / 2);
        let cut: String = chars[..head].iter().chain(&['…']).chain(&chars[chars.len() - tail..]).collect();
        if text_width(&cut) <= width {
            return cut;
        }
    }
    "…".to_string()
}

/// The legend under a chart of many curves.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, labels: &[(String, RGBColor)]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let grid = LegendGrid::new(labels, area.dim_in_pixel().0);
    let style = legend_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, color)) in labels.iter().enumerate() {
        let (column, row) = ((i / grid.rows) as u32, (i % grid.rows) as u32);
        let x = (LEGEND_PAD + column * grid.column_width) as i32;
        let y = (LEGEND_PAD + row * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        area.draw(&PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)))?;
        let text = fit(label, grid.column_width - LEGEND_SWATCH - LEGEND_PAD / 2);
        area.draw(&Text::new(text, (x + LEGEND_SWATCH as i32, y), style.clone()))?;
    }
    Ok(())
}

/// Values beyond this are left off a chart like NaN: an axis reaching f64's maximum would
/// overflow to ∞ once padded, and plotters would never finish laying out its ticks.
const PLOTTABLE: f64 = 1e15;

fn plottable(v: f64) -> bool {
    v.is_finite() && v.abs() < PLOTTABLE
}

/// The plottable `(epoch, value)` points of one metric; NaN, huge and missing values are left out.
/// Whether the run logged each layer's gradient (`log_gradients`): its curves get a third panel.
fn has_gradients(history: &History) -> bool {
    history.epochs.iter().any(|e| !e.grad_mean_abs.is_empty())
}

/// log10 of each layer's mean |gradient| by epoch, the first layer first.
fn gradient_curves(history: &History) -> Vec<Curve<String>> {
    let layers = history.epochs.iter().map(|e| e.grad_mean_abs.len()).max().unwrap_or(0);
    (0..layers)
        .map(|i| {
            let name = if i + 1 == layers { format!("layer {} (output)", i + 1) } else { format!("layer {}", i + 1) };
            let points = series(history, |e| e.grad_mean_abs.get(i).copied().filter(|g| *g > 0.0).map(f64::log10));
            (name, color(i), points)
        })
        .collect()
}

fn series(history: &History, metric: impl Fn(&EpochMetrics) -> Option<f64>) -> Vec<(f64, f64)> {
    history.epochs.iter().filter_map(|e| metric(e).filter(|v| plottable(*v)).map(|v| (e.epoch as f64, v))).collect()
}

/// Smallest and largest of the values, padded so that markers on the edge are not cut in half;
/// a single value (one epoch) still gets a range around it.
fn span(values: impl Iterator<Item = f64>, pad: f64, single: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        0.0..1.0 // no data at all
    } else if hi - lo < 1e-12 {
        lo - single..hi + single
    } else {
        lo - (hi - lo) * pad..hi + (hi - lo) * pad
    }
}

/// A labelled series: its name, its colour and its finite `(epoch, value)` points.
type Curve<L> = (L, RGBColor, Vec<(f64, f64)>);

/// A shaded band: its colour and `(epoch, low, high)` points.
type Spread = (RGBColor, Vec<(f64, f64, f64)>);

/// One line chart with epochs on x: labelled series over optional shaded bands, an optional
/// "best epoch" line, a legend.
fn panel<DB: DrawingBackend, L: AsRef<str>>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    curves: &[Curve<L>],
    spread: &[Spread],
    best_epoch: Option<f64>,
    legend: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let all = || curves.iter().flat_map(|(_, _, p)| p.iter());
    let edges = || spread.iter().flat_map(|(_, b)| b.iter().flat_map(|q| [(q.0, q.1), (q.0, q.2)]));
    let finite = |p: &(f64, f64)| plottable(p.0) && plottable(p.1);
    let x = span(all().copied().chain(edges()).filter(finite).map(|p| p.0), 0.03, 0.5);
    let y = span(all().copied().chain(edges()).filter(finite).map(|p| p.1), 0.06, 0.05);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 22))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(76)
        .build_cartesian_2d(x.clone(), y.clone())?;
    draw_mesh(&mut chart, &x, &y, (x_desc, y_desc))?;

    // Bands first, pale, so every line stays visible on top of them.
    for (color, band) in spread {
        let band: Vec<_> = band.iter().filter(|q| plottable(q.0) && plottable(q.1) && plottable(q.2)).collect();
        if band.len() < 2 {
            continue;
        }
        let outline: Vec<(f64, f64)> =
            band.iter().map(|q| (q.0, q.2)).chain(band.iter().rev().map(|q| (q.0, q.1))).collect();
        chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.18).filled())))?;
    }
    let mut labelled = false;
    for (label, color, points) in curves {
        if points.is_empty() {
            continue; // e.g. no validation split: draw only the train series
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().copied().filter(finite), color.stroke_width(2)).point_size(3))?
            .label(label.as_ref())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)));
        labelled = true;
    }
    if let Some(b) = best_epoch.filter(|b| x.contains(b)) {
        let line = [(b, y.start), (b, y.end)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, BEST.stroke_width(2)))?
            .label(format!("best epoch {b:.0}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BEST.stroke_width(2)));
        // Circle the best value of every curve so the eye finds it without reading the axis.
        let marks =
            curves.iter().flat_map(|(_, c, p)| p.iter().filter(|q| q.0 == b && finite(q)).map(move |q| (*q, *c)));
        chart.draw_series(marks.map(|(q, c)| Circle::new(q, 7, c.stroke_width(2))))?;
        labelled = true;
    }
    if labelled && legend {
        chart
            .configure_series_labels()
            .position(free_corner(curves.iter().map(|c| c.2.as_slice()), &x, &y))
            .margin(12)
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    Ok(())
}

/// Axes and grid: whole-number epochs on x (any other x as it comes), enough decimals on y that
/// neighbouring ticks differ.
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x: &Range<f64>,
    y: &Range<f64>,
    (x_desc, y_desc): (&str, &str),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let epochs = x_desc == "epoch";
    // Epochs are whole numbers: no more ticks than epochs, and no "2.5" labels.
    let ticks = if epochs { ((x.end - x.start).round().min(11.0) as usize + 1).max(2) } else { 8 };
    // Enough decimals that neighbouring ticks differ, even for accuracies a hair apart.
    let digits = (-((y.end - y.start) / 40.0).log10()).ceil().clamp(0.0, 8.0) as usize;
    let x_digits = (-((x.end - x.start) / 40.0).log10()).ceil().clamp(0.0, 8.0) as usize;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(ticks)
        .y_labels(8)
        .x_label_formatter(&|v| match epochs {
            true if (v - v.round()).abs() < 1e-6 => format!("{v:.0}"),
            true => String::new(),
            false => format!("{v:.x_digits$}"),
        })
        .y_label_formatter(&|v| format!("{v:.digits$}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    Ok(())
}

/// The legend corner that hides the least of the curves (checked along each segment, not only
/// at the points), preferring upper right, then lower right: loss falls, accuracy rises.
fn free_corner<'a>(
    curves: impl Iterator<Item = &'a [(f64, f64)]>,
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    let mut hidden = [0usize; 4]; // upper right, lower right, upper left, lower left
    for points in curves {
        let steps = points.windows(2).flat_map(|w| {
            (0..8).map(move |i| {
                let t = i as f64 / 8.0;
                (w[0].0 + (w[1].0 - w[0].0) * t, w[0].1 + (w[1].1 - w[0].1) * t)
            })
        });
        for (px, py) in steps.chain(points.last().copied()) {
            let (fx, fy) = ((px - x.start) / (x.end - x.start), (py - y.start) / (y.end - y.start));
            let (right, left, top, bottom) = (fx > 0.55, fx < 0.45, fy > 0.7, fy < 0.3);
            for (n, inside) in hidden.iter_mut().zip([right && top, right && bottom, left && top, left && bottom]) {
                *n += inside as usize;
            }
        }
    }
    let best = (0..4).min_by_key(|&i| hidden[i]).unwrap_or(0);
    [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

/// Counts on a white-to-blue scale. The diagonal dwarfs the errors, so the scale is
/// logarithmic: a cell with a handful of mistakes is still visibly tinted.
fn heat_map<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &[[u64; 10]; 10], title: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Row 0 on top, as in a printed matrix: plotters' y grows upwards, so flip it.
    let flip = |r: i32| 9 - r;
    let mut chart = ChartBuilder::on(&root.margin(10, 10, 10, 10))
        .caption(title, (FONT, 26))
        .margin(10)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d((0..9).into_segmented(), (0..9).into_segmented())?; // 10 segments: 0..=9
    let digit = |v: &SegmentValue<i32>, f: &dyn Fn(i32) -> i32| match v {
        SegmentValue::CenterOf(d) if (0..10).contains(d) => f(*d).to_string(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted label")
        .y_desc("true label")
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&|v| digit(v, &|d| d))
        .y_label_formatter(&|v| digit(v, &flip))
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;

    let max = m.iter().flatten().copied().max().unwrap_or(0);
    let shade = |c: u64| {
        if max == 0 { 0.0 } else { (c as f64).ln_1p() / (max as f64).ln_1p() }
    };
    let blend = |t: f64, a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    let cells = (0..10).flat_map(|r| (0..10).map(move |c| (r, c)));
    chart.draw_series(cells.clone().map(|(r, c)| {
        let t = shade(m[r][c]);
        let fill = RGBColor(blend(t, 247, 8), blend(t, 251, 48), blend(t, 255, 107));
        let (x, y) = (c as i32, flip(r as i32));
        Rectangle::new(
            [
                (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
            ],
            fill.filled(),
        )
    }))?;
    chart.draw_series(cells.map(|(r, c)| {
        let count = m[r][c];
        let ink: &'static RGBColor = if shade(count) > 0.55 { &WHITE } else { &BLACK };
        // Shrink long counts so they stay inside their cell.
        let size = if count >= 100_000 {
            11
        } else if count >= 10_000 {
            13
        } else {
            15
        };
        let style = TextStyle::from((FONT, size).into_font()).color(ink).pos(Pos::new(HPos::Center, VPos::Center));
        let at = (SegmentValue::CenterOf(c as i32), SegmentValue::CenterOf(flip(r as i32)));
        Text::new(count.to_string(), at, style)
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(n: usize, validation: bool) -> History {
        // Through serde, so that fields other code adds later (all `#[serde(default)]`) need no edit here.
        let epochs = (1..=n)
            .map(|epoch| {
                let t = epoch as f64;
                let metrics = serde_json::json!({
                    "epoch": epoch,
                    "train_loss": 0.9 / t,
                    "train_accuracy": 1.0 - 0.2 / t,
                    "val_loss": validation.then_some(0.8 / t + 0.02 * t),
                    "val_accuracy": validation.then_some(1.0 - 0.25 / t),
                    "learning_rate": 0.1,
                    "seconds": 1.0,
                });
                serde_json::from_value::<EpochMetrics>(metrics).unwrap()
            })
            .collect();
        History { epochs }
    }

    /// The texts of an SVG: what lies between tags, trimmed.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split('>').filter_map(|t| t.split('<').next()).map(str::trim).filter(|t| !t.is_empty()).collect()
    }

    /// Both files exist, the SVG shows every text in `names`, the PNG decodes at `size`.
    fn check(dir: &Path, stem: &str, size: (u32, u32), names: &[&str]) {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{stem}: not an svg");
        assert!(svg.trim_end().ends_with("</svg>"), "{stem}: svg not closed");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count(), "{stem}: unbalanced");
        let texts = texts(&svg);
        for name in names {
            assert!(texts.contains(name), "{stem}: {name:?} not among {texts:?}");
        }
        let png = image::open(dir.join(format!("{stem}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), size, "{stem}");
    }

    fn paths(dir: &Path, stem: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        (dir.join(format!("{stem}.svg")), dir.join(format!("{stem}.png")))
    }

    #[test]
    fn logged_gradients_get_a_third_panel() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = history(5, true);
        for (i, e) in h.epochs.iter_mut().enumerate() {
            e.grad_mean_abs = vec![1e-4 * (i + 1) as f64, 1e-3, 1e-2];
        }
        let (s, p) = paths(dir.path(), "grads");
        learning_curves(&h, h.best_epoch(), "deep", &s, &p).unwrap();
        let names = ["gradient by layer", "layer 1", "layer 2", "layer 3 (output)", "log10 of the mean |gradient|"];
        check(dir.path(), "grads", (1800, 540), &names);
    }

    #[test]
    fn learning_curves_with_and_without_validation() {
        let dir = tempfile::tempdir().unwrap();
        let h = history(12, true);
        let (s, p) = paths(dir.path(), "full");
        learning_curves(&h, h.best_epoch(), "mlp <sgd> & friends", &s, &p).unwrap(); // escaped in the SVG
        let best = format!("best epoch {}", h.best_epoch().unwrap());
        let all = ["train loss", "validation loss", "train accuracy", "validation accuracy", "epoch", "loss", &best];
        check(dir.path(), "full", (1280, 540), &all);
        assert!(std::fs::read_to_string(&s).unwrap().contains("&lt;sgd&gt; &amp; friends"));

        let h = history(1, false);
        let (s, p) = paths(dir.path(), "single");
        learning_curves(&h, h.best_epoch(), "one epoch", &s, &p).unwrap();
        check(dir.path(), "single", (1280, 540), &["train loss", "train accuracy"]);
        assert!(!std::fs::read_to_string(&s).unwrap().contains("validation"));
    }

    #[test]
    fn learning_curves_survive_odd_input() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = history(4, true);
        h.epochs[1].train_loss = f64::NAN;
        h.epochs[2].val_loss = Some(f64::INFINITY);
        let (s, p) = paths(dir.path(), "nan");
        learning_curves(&h, Some(99), "nan", &s, &p).unwrap(); // best epoch out of range: not drawn
        check(dir.path(), "nan", (1280, 540), &["train loss", "validation loss"]);
        let (s, p) = paths(dir.path(), "empty");
        learning_curves(&History::default(), None, "empty", &s, &p).unwrap();
        check(dir.path(), "empty", (1280, 540), &["loss", "accuracy"]);
        // Values near f64's maximum once padded the axis to ∞, and plotters never returned.
        let mut huge = history(3, true);
        huge.epochs[0].train_loss = 1.7e308;
        huge.epochs[1].val_accuracy = Some(1.7e308);
        huge.epochs[2].val_loss = Some(-f64::MAX);
        let (s, p) = paths(dir.path(), "huge");
        learning_curves(&huge, None, "huge", &s, &p).unwrap();
        overlay(&[("huge".into(), huge)], "huge", &s, &p).unwrap();
        check(dir.path(), "huge", (960, 600), &["huge"]);
    }

    #[test]
    fn confusion_matrix_writes_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = [[0u64; 10]; 10];
        for (r, row) in m.iter_mut().enumerate() {
            row[r] = 980 + r as u64;
            row[(r + 3) % 10] = r as u64 * 7;
        }
        let (s, p) = paths(dir.path(), "cm");
        confusion_matrix(&ConfusionMatrix(m), "confusion", &s, &p).unwrap();
        check(dir.path(), "cm", (760, 780), &["predicted label", "true label", "989", "63"]);
        let (s, p) = paths(dir.path(), "zero");
        confusion_matrix(&ConfusionMatrix::default(), "all zero", &s, &p).unwrap();
        check(dir.path(), "zero", (760, 780), &["predicted label"]);
    }

    #[test]
    fn overlay_names_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let runs = vec![
            ("baseline".to_string(), history(10, true)),
            ("dropout".to_string(), history(6, true)),
            ("no-split".to_string(), history(8, false)),
        ];
        let (s, p) = paths(dir.path(), "overlay");
        overlay(&runs, "runs", &s, &p).unwrap();
        check(dir.path(), "overlay", (960, 600), &["baseline", "dropout", "no-split (train)", "accuracy", "epoch"]);
        let (s, p) = paths(dir.path(), "none");
        overlay(&[], "no runs", &s, &p).unwrap();
        check(dir.path(), "none", (960, 600), &["accuracy"]);
    }

    #[test]
    fn bands_draw_a_shaded_area_under_each_labelled_mean() {
        let dir = tempfile::tempdir().unwrap();
        let curve = |lift: f64| (1..=5).map(|e| (e as f64, 0.8 + lift + 0.02 * e as f64, 0.01)).collect::<Vec<_>>();
        let curves = vec![("lr=0.1 (n=3)".to_string(), curve(0.0)), ("lr=0.5 (n=3)".to_string(), curve(0.05))];
        let (s, p) = paths(dir.path(), "bands");
        bands(&curves, "sweep", "validation accuracy", &s, &p).unwrap();
        check(dir.path(), "bands", (960, 600), &["lr=0.1 (n=3)", "lr=0.5 (n=3)", "validation accuracy", "epoch"]);
        let svg = std::fs::read_to_string(&s).unwrap();
        assert_eq!(svg.matches("<polygon").count(), 2, "one band per curve");
        // One epoch (or none) leaves no area to shade, and still draws.
        let (s, p) = paths(dir.path(), "short");
        bands(&[("one".to_string(), vec![(1.0, 0.9, 0.0)])], "short", "accuracy", &s, &p).unwrap();
        check(dir.path(), "short", (960, 600), &["one"]);
        assert!(!std::fs::read_to_string(&s).unwrap().contains("<polygon"));
    }

    #[test]
    fn bands_of_many_curves_list_them_under_the_chart() {
        let dir = tempfile::tempdir().unwrap();
        let curves: Vec<MeanCurve> =
            (0..30).map(|i| (format!("lr={i} (n=2)"), vec![(1.0, 0.9, 0.01), (2.0, 0.95, 0.01)])).collect();
        let (s, p) = paths(dir.path(), "many");
        bands(&curves, "sweep", "validation accuracy", &s, &p).unwrap();
        let png = image::open(&p).unwrap();
        assert!(png.height() > 600, "the picture grows to hold the legend: {}", png.height());
        let names: Vec<&str> = curves.iter().map(|c| c.0.as_str()).collect();
        check(dir.path(), "many", (960, png.height()), &names);
    }

    /// Not a check: `PLOT_CHECK_DIR=/tmp/plot-check cargo test --release --lib plot -- --ignored`
    /// renders the pictures there to look at them.
    #[test]
    #[ignore = "renders pictures into $PLOT_CHECK_DIR for a person to look at"]
    fn render_for_eyes() {
        let dir = std::env::var("PLOT_CHECK_DIR").expect("PLOT_CHECK_DIR names the folder to render into");
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let h = history(20, true);
        let (s, p) = paths(dir, "curves");
        learning_curves(&h, h.best_epoch(), "mlp-sgd: learning curves", &s, &p).unwrap();
        let mut over = h.clone();
        for e in &mut over.epochs {
            e.val_loss = Some(0.8 / e.epoch as f64 + 0.06 * e.epoch as f64); // overfits past the start
        }
        over.epochs[4].train_loss = f64::NAN;
        let (s, p) = paths(dir, "curves-overfit");
        learning_curves(&over, over.best_epoch(), "overfitting, one NaN", &s, &p).unwrap();
        let mut flat = history(5, true);
        for e in &mut flat.epochs {
            e.val_accuracy = Some(0.9901 + e.epoch as f64 * 1e-5); // labels must still differ
        }
        let (s, p) = paths(dir, "curves-flat");
        learning_curves(&flat, flat.best_epoch(), "nearly flat validation accuracy", &s, &p).unwrap();
        let (s, p) = paths(dir, "curves-empty");
        learning_curves(&History::default(), None, "no epochs", &s, &p).unwrap();
        let h1 = history(1, false);
        let (s, p) = paths(dir, "curves-1");
        learning_curves(&h1, h1.best_epoch(), "one epoch, no validation", &s, &p).unwrap();
        let mut m = [[0u64; 10]; 10];
        for (r, row) in m.iter_mut().enumerate() {
            row[r] = 950 + 13 * r as u64;
            row[(r + 3) % 10] = r as u64 * 7;
            row[(r + 7) % 10] = 1;
        }
        m[9][9] = 12345;
        let (s, p) = paths(dir, "confusion");
        confusion_matrix(&ConfusionMatrix(m), "mlp-sgd: confusion matrix (test set)", &s, &p).unwrap();
        let runs = vec![
            ("baseline".to_string(), history(20, true)),
            ("dropout 0.5".to_string(), history(12, true)),
            ("no validation".to_string(), history(16, false)),
        ];
        let (s, p) = paths(dir, "overlay");
        overlay(&runs, "validation accuracy of three runs", &s, &p).unwrap();
        let many: Vec<_> =
            (0..40).map(|i| (format!("sweep/lr-0.{i:02}-seed-{}", i % 3), history(5 + i % 7, true))).collect();
        let (s, p) = paths(dir, "overlay-40");
        overlay(&many, "validation accuracy of 40 runs", &s, &p).unwrap();
    }
}
