//! The report pages of `report` and `sweep collect`: one self-contained HTML file, or Markdown
//! with the picture beside it.

use std::path::Path;

/// A file name's extension, lower-cased.
pub fn extension(p: &Path) -> Option<String> {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// `target` as a link from the file `from`: bare file name when both share a folder.
pub fn relative_to(target: &Path, from: &Path) -> String {
    let dir = from.parent().unwrap_or(Path::new(""));
    target.strip_prefix(dir).unwrap_or(target).display().to_string()
}

/// One file, nothing fetched: styles inline and the SVG text itself in the page, under a
/// heading `picture`.
pub fn html_page(title: &str, table: &str, picture: &str, svg: &str) -> String {
    // An XML prolog is not allowed in the middle of an HTML document.
    let svg = svg.trim_start();
    let svg = match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, body)| body).trim_start(),
        None => svg,
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
<style>\nbody {{ font-family: sans-serif; margin: 2em; }}\n\
table {{ border-collapse: collapse; }}\nth, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; }}\n\
td.num {{ text-align: right; }}\nsvg {{ max-width: 100%; height: auto; }}\n</style>\n</head>\n<body>\n\
<h1>{title}</h1>\n{table}<h2>{picture}</h2>\n{svg}\n</body>\n</html>\n"
    )
}
