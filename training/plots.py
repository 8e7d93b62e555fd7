"""Training-curve figure (matplotlib, host side only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build host
import matplotlib.pyplot as plt  # noqa: E402


def training_curves(history: list[dict], path: str | Path) -> None:
    ep = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(ep, [h["train_ce"] for h in history], "o-", color="tab:blue", label="train cross-entropy")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy (nats/word)", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(ep, [h["val_bleu4"] for h in history], "s-", color="tab:red", label="val BLEU-4 (greedy)")
    ax2.plot(ep, [h["val_cider"] for h in history], "^-", color="tab:green", label="val CIDEr (greedy)")
    ax2.set_ylabel("val score")
    fig.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
