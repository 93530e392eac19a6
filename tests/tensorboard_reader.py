"""Read a log directory with TensorBoard itself and print, as JSON, what it sees.

Two views: `EventAccumulator` (TensorBoard's Python reader, one per run directory) and the
HTTP routes TensorBoard's web UI calls, served by its WSGI app in process (no port).
Floats travel as their IEEE bits so that NaN, infinities and -0.0 come through exactly.

Usage: python tensorboard_reader.py LOGDIR
       python tensorboard_reader.py --raw LOGDIR  (every summary value of every events file, as
       [tag, step], per folder: duplicates and all, as no view above shows them)
"""

import json
import os
import struct
import sys

from tensorboard import default, program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.backend.event_processing import event_accumulator as ea
from werkzeug.test import Client


def f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def accumulator(run_dir):
    keep_all = {ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.COMPRESSED_HISTOGRAMS: 0, ea.IMAGES: 0}
    acc = ea.EventAccumulator(run_dir, size_guidance=keep_all)
    acc.Reload()
    tags = acc.Tags()
    out = {"file_version": acc.file_version, "scalars": [], "histograms": [], "images": []}
    for tag in tags[ea.SCALARS]:
        for e in acc.Scalars(tag):
            out["scalars"].append({"tag": tag, "step": e.step, "bits": f32(e.value)})
    for tag in tags[ea.HISTOGRAMS]:
        # Computed from the histograms while loading; must exist for every one.
        assert len(acc.CompressedHistograms(tag)) == len(acc.Histograms(tag)), tag
        for e in acc.Histograms(tag):
            h = e.histogram_value
            out["histograms"].append({
                "tag": tag,
                "step": e.step,
                "min": f64(h.min),
                "max": f64(h.max),
                "num": f64(h.num),
                "sum": f64(h.sum),
                "sum_squares": f64(h.sum_squares),
                "bucket_limit": [f64(x) for x in h.bucket_limit],
                "bucket": [f64(x) for x in h.bucket],
            })
    for tag in tags[ea.IMAGES]:
        for e in acc.Images(tag):
            out["images"].append({
                "tag": tag,
                "step": e.step,
                "width": e.width,
                "height": e.height,
                "png": e.encoded_image_string.hex(),
            })
    return out


def ui(logdir):
    tb = program.TensorBoard(plugins=default.get_plugins())
    # The pure-Python loader, loading once before the first request is served.
    tb.configure(argv=[None, "--logdir", logdir, "--load_fast", "false",
                       "--reload_task", "blocking", "--reload_interval", "0"])
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, ingester.data_provider, None, ingester.deprecated_multiplexer)
    client = Client(app)

    def get(path, **query):
        r = client.get(path, query_string=query or None)
        assert r.status_code == 200, (path, query, r.status_code, r.get_data()[:500])
        return r

    def number(x):
        # The UI's JSON spells non-finite numbers as strings.
        return float(x) if isinstance(x, str) else x

    listing = get("/data/plugins_listing").json
    out = {"enabled": sorted(k for k, v in listing.items() if v.get("enabled")),
           "scalars": [], "histograms": [], "images": []}
    for run, tags in sorted(get("/data/plugin/scalars/tags").json.items()):
        for tag in sorted(tags):
            for _, step, value in get("/data/plugin/scalars/scalars", run=run, tag=tag).json:
                out["scalars"].append({"run": run, "tag": tag, "step": step, "bits": f32(number(value))})
    for run, tags in sorted(get("/data/plugin/histograms/tags").json.items()):
        for tag in sorted(tags):
            for _, step, buckets in get("/data/plugin/histograms/histograms", run=run, tag=tag).json:
                out["histograms"].append({"run": run, "tag": tag, "step": step,
                                          "buckets": [[f64(number(x)) for x in b] for b in buckets]})
    for run, tags in sorted(get("/data/plugin/images/tags").json.items()):
        for tag in sorted(tags):
            for e in get("/data/plugin/images/images", run=run, tag=tag, sample=0).json:
                png = get("/data/plugin/images/individualImage?" + e["query"]).get_data()
                out["images"].append({"run": run, "tag": tag, "step": e["step"], "png": png.hex()})
    return out


def raw(logdir):
    from tensorboard.backend.event_processing import event_file_loader

    out = {}
    for folder, _, files in sorted(os.walk(logdir)):
        rows = out.setdefault(os.path.relpath(folder, logdir), [])
        for name in sorted(f for f in files if "tfevents" in f):
            for event in event_file_loader.LegacyEventFileLoader(os.path.join(folder, name)).Load():
                rows.extend([v.tag, event.step] for v in event.summary.value)
    return out


def main():
    if sys.argv[1] == "--raw":
        json.dump(raw(sys.argv[2]), sys.stdout)
        return
    logdir = sys.argv[1]
    runs = sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d)))
    json.dump({"runs": {run: accumulator(os.path.join(logdir, run)) for run in runs}, "ui": ui(logdir)},
              sys.stdout)


main()
