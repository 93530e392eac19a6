//! `bench`'s tables: the epochs and their yardsticks, where the epoch went, the machine.

use super::Measurement;

/// Per measurement: its loads, epochs, speed, memory and yardsticks.
pub fn epochs(results: &[Measurement]) -> String {
    let mut out = String::from(
        "| backend | preset | load s | first epoch s | epoch s (train) | validation s | samples/s | peak MB | sgemm floor s | × floor | GFLOP/epoch | GFLOP/s | % of FMA peak |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in results {
        let peak = m.peak_rss_mb.map_or("n/a".to_string(), |mb| format!("{mb:.0}"));
        let floor = m.floor_seconds.map_or("n/a".to_string(), |f| format!("{f:.2}"));
        let ratio = m.floor_seconds.map_or("n/a".to_string(), |f| format!("{:.2}", m.train_seconds / f));
        let of_peak = m.percent_of_peak.map_or("n/a".to_string(), |p| format!("{p:.0} %"));
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.0} | {peak} | {floor} | {ratio} | {:.1} | {:.1} | {of_peak} |\n",
            m.backend,
            m.preset,
            m.load_seconds,
            m.first_epoch_seconds,
            m.train_seconds,
            m.validation_seconds,
            m.samples_per_second,
            m.gflop_per_epoch,
            m.gflops
        ));
    }
    out
}

/// Where each CPU backend's training epoch went, how near its two passes came to the FMA peak,
/// and how near the products alone come (the floor).
pub fn phases(results: &[Measurement]) -> String {
    let mut out = String::from(
        "| backend | preset | data s | forward s | forward % of peak | backward s | backward % of peak | optimizer s | other s | floor % of peak |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in results {
        let Some(p) = &m.phases else { continue };
        let of_peak = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0} %"));
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {} | {:.3} | {} | {:.3} | {:.3} | {} |\n",
            m.backend,
            m.preset,
            p.data_seconds,
            p.forward_seconds,
            of_peak(p.forward_percent_of_peak),
            p.backward_seconds,
            of_peak(p.backward_percent_of_peak),
            p.optimizer_seconds,
            p.other_seconds,
            of_peak(m.floor_percent_of_peak)
        ));
    }
    out
}

/// The machine in one line, from [`super::machine`]'s description.
pub fn machine_line(m: &serde_json::Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
    format!(
        "mnist-lab {} ({} build) on {}, {} cores, {}; {}",
        s("mnist_lab_version"),
        s("build"),
        s("cpu"),
        m["cores"],
        s("os"),
        s("date")
    )
}
