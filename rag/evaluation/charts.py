"""The PNG charts of `rag eval`: scores by question type and time per stage (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_charts(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """PNG charts: scores by question type (bars) and time per stage (box plot); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    types = list(summary["by_type"])
    metrics = [("hit@5", "hit@5"), ("mrr", "MRR"), ("token_f1", "token F1"), ("key_facts", "key facts"),
               ("citation_validity", "citation validity"), ("refusal_ok", "refusal ok")]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(metrics)
    for i, (key, label) in enumerate(metrics):
        vals = [summary["by_type"][t][key] for t in types]
        xs = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(types))]
        ax.bar(xs, [float("nan") if v is None else v for v in vals], width, label=label)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels([f"{t}\n(n={summary['by_type'][t]['n']})" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean over questions)")
    ax.set_title("Scores by question type")
    ax.legend(ncol=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    paths.append(out / "scores_by_type.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    ok = [r["scores"] for r in rows if not r.get("error")]
    stages = [("retrieval", "retrieval_s"), ("prompt\n(to first token)", "prompt_s"),
              ("generation", "generation_s"), ("total", "total_s")]
    data = [[s[k] for s in ok if s[k] is not None] for _, k in stages]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if any(data):
        ax.boxplot([d or [float("nan")] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(stages) + 1))
        ax.set_xticklabels([name for name, _ in stages])
    else:
        ax.text(0.5, 0.5, "no timings (every question failed)", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("seconds per question")
    ax.set_title(f"Time per stage ({summary['run']['generator']}, n={len(ok)})")
    fig.tight_layout()
    paths.append(out / "time_per_stage.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return [str(p) for p in paths]
