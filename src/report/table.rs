//! The runs comparison table, and the `history.csv` reader it needs.

use formats::history::History;
use formats::summary::Summary;

pub use formats::history::{parse_history_csv, read_history_csv};

/// One run of the report: its name, its summary (`None` while training never finished) and history.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub name: String,
    pub summary: Option<Summary>,
    pub history: History,
}

pub const COLUMNS: [&str; 8] =
    ["run", "preset", "dataset", "backend", "epochs run", "best epoch", "test accuracy", "s / epoch"];

/// The table's cells, as text. An unfinished run shows what its history knows and says it is unfinished.
pub fn cells(row: &RunRow) -> [String; 8] {
    match &row.summary {
        Some(s) => [
            row.name.clone(),
            s.preset.clone(),
            s.dataset.clone(),
            s.backend.clone(),
            s.epochs_run.to_string(),
            s.best_epoch.to_string(),
            format!("{:.2} %", s.test_accuracy * 100.0),
            format!("{:.2}", s.seconds_per_epoch),
        ],
        None => {
            let h = &row.history;
            [
                row.name.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
                h.epochs.len().to_string(),
                h.best_epoch().map_or("—".into(), |b| b.to_string()),
                "unfinished".into(),
                format!("{:.2}", h.seconds_per_epoch()),
            ]
        }
    }
}

/// A GitHub-flavoured Markdown table, numbers right-aligned.
pub fn markdown(rows: &[RunRow]) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(&COLUMNS.map(String::from));
    out.push_str("|---|---|---|---|---:|---:|---:|---:|\n");
    for row in rows {
        out.push_str(&line(&cells(row).map(|c| markdown_cell(&c))));
    }
    out
}

/// The same table as an HTML `<table>`.
pub fn html(rows: &[RunRow]) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for c in COLUMNS {
        out.push_str(&format!("<th>{c}</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, c) in cells(row).iter().enumerate() {
            let class = if i >= 4 { " class=\"num\"" } else { "" };
            out.push_str(&format!("<td{class}>{}</td>", escape_html(c)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// `s` as one cell of a Markdown table: a line break or other control character would end the
/// row (and forge the next), a `|` (or `\|`) split the cell, a `<` open inline HTML.
pub fn markdown_cell(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '|' => "\\|".to_string(),
            // Else `\|` would read as a backslash, then a cell's end.
            '\\' => "\\\\".to_string(),
            '<' => "&lt;".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use formats::error;
    use formats::history::CSV_HEADER;

    const CSV: &str = "\
epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,grad_mean_abs_layer0,grad_mean_abs_layer1
1,0.500000,0.800000,0.400000,0.850000,3,12.500,1.5e-3,2.0e-2
2,NaN,0.900000,,,0.1,10.000,1.0e-3,1.0e-2
";

    fn summary(acc: f64, spe: f64) -> Summary {
        Summary {
            preset: "baseline".into(),
            dataset: "mnist".into(),
            backend: "flex".into(),
            epochs_run: 30,
            best_epoch: 27,
            stopped_early: false,
            test_accuracy: acc,
            test_loss: 0.1,
            train_seconds: 300.0,
            seconds_per_epoch: spe,
        }
    }

    #[test]
    fn parses_grad_columns_empty_validation_and_nan() {
        let h = parse_history_csv(CSV, "h.csv").unwrap();
        assert_eq!(h.epochs.len(), 2);
        let (a, b) = (&h.epochs[0], &h.epochs[1]);
        assert_eq!((a.epoch, a.val_accuracy, a.learning_rate, a.seconds), (1, Some(0.85), 3.0, 12.5));
        assert_eq!(a.grad_mean_abs, vec![1.5e-3, 2.0e-2]);
        assert!(b.train_loss.is_nan());
        assert_eq!((b.val_loss, b.val_accuracy), (None, None));
    }

    #[test]
    fn round_trips_to_csv() {
        let h = parse_history_csv(CSV, "h.csv").unwrap();
        let mut h = h.clone();
        h.epochs[1].train_loss = 0.25; // NaN != NaN would fail the comparison
        let again = parse_history_csv(&h.to_csv(), "again").unwrap();
        assert_eq!(again, h);
        let plain = parse_history_csv(&format!("{CSV_HEADER}\n"), "empty history").unwrap();
        assert!(plain.epochs.is_empty());
    }

    #[test]
    fn malformed_files_are_data_errors_naming_file_and_line() {
        let cases = [
            ("", "h.csv: empty"),
            ("epoch,loss\n1,2\n", "h.csv:1:"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,3,1\n2,0.5,x,,,3,1\n"), "h.csv:3: `x`"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,3\n"), "h.csv:2: 6 fields"),
            (&format!("{CSV_HEADER}\n1.5,0.5,0.8,,,3,1\n"), "h.csv:2: `1.5`"),
            // Values training never writes: a value near f64's maximum once hung the report's plot.
            (&format!("{CSV_HEADER}\n1,0.5,0.8,0.4,1.7e308,3,1\n"), "h.csv:2: val_accuracy is 1.7e308"),
            (&format!("{CSV_HEADER}\n1,inf,0.8,,,3,1\n"), "h.csv:2: train_loss is inf"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,-0.1,1\n"), "h.csv:2: learning_rate is -0.1"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,NaN,1\n"), "h.csv:2: learning_rate is NaN"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,3,-1\n"), "h.csv:2: seconds is -1"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,0.4,,3,1\n"), "h.csv:2: val_loss and val_accuracy"),
            (&format!("{CSV_HEADER}\n1,0.5,0.8,,,3,1\n3,0.5,0.8,,,3,1\n"), "h.csv:3: epoch 3 where epoch 2"),
        ];
        for (text, needle) in cases {
            let err = parse_history_csv(text, "h.csv").unwrap_err();
            assert_eq!(error::kind_of(&err), error::Kind::Data);
            assert!(err.to_string().contains(needle), "{err} should contain {needle:?}");
        }
        let err = read_history_csv(Path::new("/no/such/history.csv")).unwrap_err();
        assert!(err.to_string().contains("/no/such/history.csv"));
    }

    #[test]
    fn markdown_formats_percent_and_seconds() {
        let rows = [
            RunRow { name: "a|b".into(), summary: Some(summary(0.97861, 12.3456)), history: History::default() },
            RunRow { name: "cut-short".into(), summary: None, history: parse_history_csv(CSV, "h.csv").unwrap() },
        ];
        let md = markdown(&rows);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| run | preset | dataset | backend | epochs run | best epoch | test accuracy | s / epoch |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---:|---:|---:|---:|");
        assert_eq!(lines[2], "| a\\|b | baseline | mnist | flex | 30 | 27 | 97.86 % | 12.35 |");
        // Best epoch by validation loss falls back to train loss; s / epoch leaves out the first epoch.
        assert_eq!(lines[3], "| cut-short | — | — | — | 2 | 1 | unfinished | 10.00 |");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn html_escapes_cells() {
        let rows = [RunRow { name: "<x&y>".into(), summary: Some(summary(0.5, 1.0)), history: History::default() }];
        let html = html(&rows);
        assert!(html.contains("<td>&lt;x&amp;y&gt;</td>"), "{html}");
        assert!(html.contains("<td class=\"num\">50.00 %</td>"), "{html}");
    }
}
