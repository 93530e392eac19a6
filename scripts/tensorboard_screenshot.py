"""Picture of TensorBoard's histograms for the README: deep-sigmoid's vanishing gradients beside
deep-relu's.

Usage (after `cargo test --release`, which provisions TensorBoard, selenium and Chromium under
target/tmp/):
    mnist-lab train deep-sigmoid --out runs/deep-sigmoid && mnist-lab train deep-relu --out runs/deep-relu
    target/tmp/python/bin/python scripts/tensorboard_screenshot.py runs docs/tensorboard-histograms.png
"""

import pathlib
import socket
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "web"))
import chromium  # noqa: E402  (the browser tests' provisioning)

logdir, out = sys.argv[1], pathlib.Path(sys.argv[2])
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
board = subprocess.Popen(
    [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--port", str(port), "--host", "127.0.0.1",
     "--load_fast", "false"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    cache = pathlib.Path(__file__).resolve().parent.parent / "target" / "tmp" / "browser"
    driver = chromium.start(cache, str(pathlib.Path("/tmp") / f"tb-profile-{port}"), 1400, 1000)
    try:
        time.sleep(6)  # TensorBoard's first load of the logs
        driver.get(f"http://127.0.0.1:{port}/#histograms&tagFilter=layer%5B04%5D%2Fgradients")
        time.sleep(8)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
finally:
    board.terminate()
print(out)
