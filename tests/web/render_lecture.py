"""Opens a lecture handout in headless Chromium and reports what it shows, for tests/suite/lecture.rs.

usage: render_lecture.py CACHE PROFILE PAGE.html OUT.json

OUT: per claim (each <article>) its heading, the size of every figure as laid out, and its
verdict text; the section headings; the URLs the browser requested; console errors; the page
count of the page printed on A4. The Rust test makes every assertion.
"""

import base64
import json
import pathlib
import sys

from selenium.webdriver.common.print_page_options import PrintOptions

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).parent))
import chromium  # noqa: E402
from drive_page import requested_urls, severe  # noqa: E402

ARTICLES = """
return Array.from(document.querySelectorAll('article')).map((a) => ({
  claim: a.querySelector('h3').textContent,
  figures: Array.from(a.querySelectorAll('figure svg')).map((s) => {
    const r = s.getBoundingClientRect();
    return [r.width, r.height];
  }),
  verdict: (a.querySelector('.verdict') || {}).textContent || null,
}));
"""


def main(cache, profile, page, out_path):
    driver = chromium.start(pathlib.Path(cache), profile, 1000, 900)
    try:
        requested_urls(driver)  # drop the start page's entries
        url = pathlib.Path(page).resolve().as_uri()
        driver.get(url)
        out = {
            "url": url,
            "sections": driver.execute_script(
                "return Array.from(document.querySelectorAll('h2')).map((h) => h.textContent)"
            ),
            "articles": driver.execute_script(ARTICLES),
            "requests": requested_urls(driver),
            "errors": severe(driver),
        }
        options = PrintOptions()
        options.page_width, options.page_height = 21.0, 29.7  # A4, in centimetres
        pdf = base64.b64decode(driver.print_page(options))
        out["pdf_pages"] = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        pathlib.Path(out_path).write_text(json.dumps(out))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:5])
