"""Draw scale.png from latest.json; run with an interpreter that has matplotlib."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(results_path: Path, image_path: Path) -> None:
    scale = json.loads(results_path.read_text())["scale"]
    models = [point["models"] for point in scale["points"]]
    seconds = [point["synth_seconds"] for point in scale["points"]]
    largest = [point["largest_stack"]["resources"] for point in scale["points"]]

    figure, left = plt.subplots(figsize=(7, 4))
    left.plot(models, seconds, "o-", color="tab:blue", label="synth seconds")
    left.set_xlabel("models")
    left.set_ylabel("synth seconds", color="tab:blue")
    left.set_ylim(0, max(seconds) * 1.15)
    right = left.twinx()
    right.plot(models, largest, "s--", color="tab:red", label="largest stack resources")
    right.set_ylabel("resources in largest stack", color="tab:red")
    right.axhline(500, color="tab:red", linewidth=0.8, linestyle=":")
    right.text(models[0], 500, " CloudFormation limit (500)", color="tab:red", va="bottom", fontsize=8)
    right.set_ylim(0, max(520, *largest) * 1.05)
    left.set_title("Synth time and largest stack vs number of models")
    figure.tight_layout()
    figure.savefig(image_path, dpi=120)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
