"""The ``rag-attrib check-model`` report in a terminal (rich)."""

from __future__ import annotations

from ..model_check import CheckReport


def print_report(report: CheckReport, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    console.print(f"[bold]Model:[/bold] {escape(report.model)}  [bold]model_type:[/bold] {escape(report.model_type)}"
                  f"  [bold]family:[/bold] {escape(str(report.family))}")
    if report.rules:
        table = Table(title="Rules", title_justify="left", show_edge=False)
        for column in ("module", "count", "rule"):
            table.add_column(column)
        for cls, n, rule in report.rules:
            table.add_row(cls, str(n), rule)
        table.add_row("(every attention module)", "", "uniform: q, k gradient x 1/4, v x 1/2 (AttentionInterface)")
        console.print(table)
    if report.forward_difference is not None:
        console.print(f"patched forward = original: relative difference {report.forward_difference:.1e}; "
                      f"restored exactly: {'yes' if report.restored else 'NO'}", highlight=False)
    if report.kernel_difference is not None:
        console.print(f"eager vs SDPA relevance: relative difference {report.kernel_difference:.1e}", highlight=False)
    elif report.family:
        console.print("eager vs SDPA relevance: n/a (the model runs one attention kernel only)")
    if report.layer_ratios:
        line = "  ".join(f"{r:.2f}" for r in report.layer_ratios)
        console.print(f"relevance at each layer input / target, first token left out (first to last layer): "
                      f"{line}", highlight=False)
        console.print(f"relevance at the input embeddings / target: {report.input_ratio:.2f}", highlight=False)
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {escape(problem)}")
    console.print("[bold green]verdict: OK[/bold green] - this model can be attributed" if report.ok
                  else "[bold red]verdict: FAILED[/bold red] - do not trust attributions of this model")
