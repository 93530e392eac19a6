"""Drives exported digit pages in headless Chromium and reports what they did, for tests/suite/web_page.rs.

usage: drive_page.py JOB.json OUT.json

JOB: {"cache": dir for the browser, "profile": fresh profile dir,
      "pages": [{"path": page.html, "digits": [[784 floats], …], "calls": [JS expressions]}, …],
      "golden": [golden JSON files], "draw_page": index into pages, "screenshot": PNG path}
      ("calls", "golden" and from "draw_page" on are optional)
OUT: per page the classify() results, the URLs the browser requested, the resource-timing
entries and console errors, and for each of its "calls" what classify(CALL) did ({"digit"} or
the {"error", "message"} it threw); the golden drawings as the page preprocesses them; what
#prediction shows after pen, mouse and touch strokes; whether the request log sees a load at all.
The Rust test makes every assertion.
"""

import json
import pathlib
import sys

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).parent))
import chromium  # noqa: E402


# classify() on one argument (a JS expression from the test): its digit, or what it threw.
CALL = """
try {
  return { digit: window.mnistLab.classify(ARGUMENT).digit };
} catch (e) {
  return { error: e.name, message: e.message };
}
"""


def requested_urls(driver):
    """URLs of every request the browser started since the last call (Chromium's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def severe(driver):
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def stroke(driver, kind, points):
    """One stroke through `points` (pixels from the drawing canvas's centre) with a `kind`
    pointer (interaction.POINTER_PEN / POINTER_MOUSE / POINTER_TOUCH)."""
    pad = driver.find_element(By.ID, "pad")
    pointer = PointerInput(kind, kind)
    chain = ActionChains(driver, duration=0, devices=[pointer])
    chain.move_to_element_with_offset(pad, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        chain.move_by_offset(x1 - x0, y1 - y0)
    chain.release().perform()


def prediction(driver):
    return driver.find_element(By.ID, "prediction").text


def main(job_path, out_path):
    job = json.loads(pathlib.Path(job_path).read_text())
    driver = chromium.start(pathlib.Path(job["cache"]), job["profile"], 1000, 840)
    out = {"browser": driver.execute_script("return navigator.userAgent"), "pages": []}
    try:
        requested_urls(driver)  # drop the start page's entries
        for page in job["pages"]:
            url = pathlib.Path(page["path"]).resolve().as_uri()
            driver.get(url)
            classified = driver.execute_script(
                "return arguments[0].map((d) => window.mnistLab.classify(d))", page["digits"]
            )
            out["pages"].append({
                "url": url,
                "classified": classified,
                "model": driver.execute_script("return window.mnistLab.model"),
                "requests": requested_urls(driver),
                "resources": driver.execute_script(
                    "return performance.getEntriesByType('resource').map((e) => e.name)"
                ),
                "errors": severe(driver),
                "calls": [driver.execute_script(CALL.replace("ARGUMENT", call)) for call in page.get("calls", [])],
            })

        if "golden" not in job:
            pathlib.Path(out_path).write_text(json.dumps(out))
            return

        # The golden drawings, as RGBA bytes like a canvas's ImageData.
        out["golden"] = []
        for path in job["golden"]:
            g = json.loads(pathlib.Path(path).read_text())
            rgba = [v for row in g["raster_hex"] for b in bytes.fromhex(row) for v in (b, b, b, 255)]
            pixels = driver.execute_script(
                "return Array.from(window.mnistLab.preprocess(arguments[0], arguments[1], arguments[2]))",
                g["width"], g["height"], rgba,
            )
            out["golden"].append({"path": path, "pixels": pixels})

        # Pointer strokes on the drawing page: a vertical line with a pen, a mouse, a finger.
        driver.get(pathlib.Path(job["pages"][job["draw_page"]]["path"]).resolve().as_uri())
        requested_urls(driver)
        draw = {"initial": prediction(driver)}
        line = [(0, y) for y in range(-95, 96, 19)]
        stroke(driver, interaction.POINTER_PEN, line)
        draw["pen"] = prediction(driver)
        draw["pen_input_ink"] = driver.execute_script(
            "const c = document.getElementById('input').getContext('2d');"
            "return c.getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v > 0).length"
        )
        driver.find_element(By.ID, "clear").click()
        draw["cleared"] = prediction(driver)
        stroke(driver, interaction.POINTER_MOUSE, line)
        draw["mouse"] = prediction(driver)
        driver.find_element(By.ID, "clear").click()
        stroke(driver, interaction.POINTER_TOUCH, line)
        draw["touch"] = prediction(driver)
        driver.find_element(By.ID, "clear").click()

        # A 7 for the screenshot: the top bar, then the diagonal.
        stroke(driver, interaction.POINTER_PEN, [(-70, -85), (-20, -88), (30, -88), (70, -86)])
        stroke(driver, interaction.POINTER_PEN, [(70, -86), (45, -30), (20, 25), (0, 90)])
        draw["seven"] = prediction(driver)
        driver.execute_script("return new Promise((done) => setTimeout(done, 400))")  # bars settle
        pathlib.Path(job["screenshot"]).write_bytes(driver.get_screenshot_as_png())
        draw["requests"] = requested_urls(driver)
        draw["errors"] = severe(driver)
        out["draw"] = draw

        # The request log does see loads: a file:// image next to the page shows up.
        probe = pathlib.Path(job["golden"][0]).resolve().as_uri()
        driver.execute_script("const i = new Image(); i.src = arguments[0]; document.body.append(i);", probe)
        driver.execute_script("return new Promise((done) => setTimeout(done, 300))")
        out["probe"] = {"url": probe, "requests": requested_urls(driver)}
    finally:
        driver.quit()
    pathlib.Path(out_path).write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
