"""The eval report as tables: one per data set when there are several, then all together (rich or Markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def answers_phrase(n: int) -> str:
    """ "1 answer", "3 answers"."""
    return f"{n} answer{'s' if n != 1 else ''}"


def columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(key, label) of the table's columns, in order."""
    return (
        [("hit@1", "hit@1"), ("mrr", "MRR"), ("evidence@1", "evid@1"),
         ("top_first", "top 1st"), ("top_middle", "top mid"), ("top_last", "top last")]
        + [(f"comp@{k}", f"comp@{k}") for k in ks]
        + [(f"suff@{k}", f"suff@{k}") for k in ks]
        + [("flagged_unsupported", "flag unsup"), ("flagged_supported", "flag sup"), ("auroc_unsupported", "AUROC"),
           ("seconds_per_answer", "s/answer"), ("forwards_per_answer", "fwd"), ("backwards_per_answer", "bwd")]
    )


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in ("forwards_per_answer", "backwards_per_answer"):
        return f"{value:.1f}"
    if key == "seconds_per_answer":
        return f"{value:.2f}"
    if key.startswith(("top_", "gold_")):
        return f"{value:.0%}"
    return f"{value:.2f}" if key.startswith(("comp", "suff")) else f"{value:.3f}"


def table_rows(report: dict[str, Any], methods: dict[str, Any] | None = None) -> tuple[list[str], list[list[str]]]:
    keys = columns(report["ks"])
    header = ["method"] + [label for _, label in keys]
    methods = report["methods"] if methods is None else methods
    rows = [[name] + [_cell(k, m.get(k)) for k, _ in keys] for name, m in methods.items()]
    return header, rows


def caption(report: dict[str, Any]) -> str:
    env = report["environment"]
    return (f"{report['model']} ({env['dtype']}, {env['device']}, {env['threads']} threads); data: "
            f"{', '.join(report['data'])}: {answers_phrase(report['cases'])}, {report['sentences']} sentences "
            f"({report['supported']} with a gold chunk, {report['unsupported']} unsupported); "
            f"min_share {report['min_share']}" + _judge(report) + _gold_positions(report) + _resumed(report))


def _judge(report: dict[str, Any]) -> str:
    judge = report.get("judge")
    return f"; judge {judge} (its passes counted in fwd)" if judge else ""


def _resumed(report: dict[str, Any]) -> str:
    n = report.get("resumed", 0)
    return f"; {answers_phrase(n)} (and their seconds) from an earlier, stopped run" if n else ""


def _gold_positions(report: dict[str, Any]) -> str:
    first = next(iter(report["methods"].values()), {})
    if first.get("gold_first") is None:
        return ""
    return (f"; gold chunks in the first / middle / last third of the prompt: {first['gold_first']:.0%} / "
            f"{first['gold_middle']:.0%} / {first['gold_last']:.0%}")


def _tables(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title, methods) of each table: one per data set when there are several, then all together."""
    tables = [(f"data: {src} ({answers_phrase(part['cases'])})", part["methods"])
              for src, part in report.get("by_source", {}).items()]
    return tables + [("all data" if tables else "rag-attrib eval", report["methods"])]


def print_table(report: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tables = []
    parts = _tables(report)
    for n, (title, methods) in enumerate(parts):
        header, rows = table_rows(report, methods)
        last = n == len(parts) - 1
        table = Table(title=title, caption=caption(report) if last else None, caption_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    width = console.width
    if not console.is_terminal:  # a file or a pipe: as wide as the widest table, never squeezed
        wide = console.options.update_width(10_000)
        console.width = max(width, *(console.measure(table, options=wide).maximum for table in tables))
    try:
        for table in tables:
            console.print(table)
    finally:
        console.width = width
    for name, why in report["skipped"].items():
        console.print(f"skipped {name}: {why}", highlight=False, markup=False)


def to_markdown(report: dict[str, Any]) -> str:
    out = []
    tables = _tables(report)
    for title, methods in tables:
        header, rows = table_rows(report, methods)
        if len(tables) > 1:
            out.append(f"{title}\n")
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        out.append("\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]))
    return "\n\n".join(out)
