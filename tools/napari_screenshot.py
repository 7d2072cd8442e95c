"""Make docs/napari_screenshot.png: the NodeScope plugin on a sample node.

Opens a napari window, loads a NodeScope sample, runs "Analyze lymph node"
synchronously, frames the largest deposit and saves the whole window.

Run it with a display, e.g. on a headless machine::

    xvfb-run -a -s '-screen 0 1600x1000x24' python tools/napari_screenshot.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="micro_ilc_ihc",
                        help="sample key (negative_he, itc_he, micro_idc_he, micro_ilc_ihc)")
    parser.add_argument("--out", type=Path, default=DOCS / "napari_screenshot.png")
    parser.add_argument("--size", type=int, nargs=2, default=(1400, 900), metavar=("W", "H"))
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="NodeScope", show=True)
    viewer.window.resize(*args.size)
    _, widget = viewer.window.add_plugin_dock_widget("nodescope", "Analyze lymph node")
    viewer.open_sample("nodescope", args.sample)
    result = widget.run(sync=True)
    if result is None:
        raise SystemExit(f"analysis refused: {widget.status_label.text()}")
    viewer.layers.selection.active = viewer.layers["Tumour cells"]
    if len(result.deposits):
        largest = int(result.deposits.loc[result.deposits["longest_diameter_um"].idxmax(),
                                          "deposit_id"])
        widget.select_deposit(largest)  # the table selection frames it
    QApplication.processEvents()
    # no notification pop-ups over the canvas (e.g. napari's Qt5 deprecation notice)
    for w in QApplication.allWidgets():
        if type(w).__name__ == "NapariQtNotification":
            w.close()
    for _ in range(5):
        QApplication.processEvents()
    viewer.screenshot(str(args.out), canvas_only=False)
    print(f"{args.out}: {result.category}, largest deposit {result.largest_deposit_um:.0f} µm")
    viewer.close()


if __name__ == "__main__":
    main()
