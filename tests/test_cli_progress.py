"""Progress on a terminal while slow steps run (model load, attribution, evaluation), and nothing extra when
stderr is piped. No model is loaded: the slow steps are stand-ins."""

from __future__ import annotations

import io
import logging
import re

import pytest
from rich.console import Console

from rag_attrib import cli
from rag_attrib.cli import common


class Screen(io.StringIO):
    """What a terminal shows, or a log file where ``terminal`` is False."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def consoles(terminal: bool) -> tuple[Console, io.StringIO]:
    out = Screen(terminal)
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


@pytest.fixture
def fake_load(monkeypatch):
    """Attributor.load that converts a GGUF file the way rag_attrib.model reports it, slowly."""
    from rag_attrib.attribute import Attributor

    def load(name=None, **kwargs):
        logging.getLogger("rag_attrib.model").info("converting %s (once; later loads use %s)", "m.gguf", "cache")
        return "attributor"

    monkeypatch.setattr(Attributor, "load", staticmethod(load))


def test_model_load_says_what_it_is_doing_on_a_terminal(fake_load):
    stderr, out = consoles(terminal=True)
    assert common.load_attributor(None, stderr) == "attributor"
    shown = out.getvalue()
    assert "Converting the model from GGUF, once" in shown and "0:00:00" in shown  # what, and for how long
    model_log = logging.getLogger("rag_attrib.model")
    assert not any(isinstance(h, common.OnConversion) for h in model_log.handlers)
    assert model_log.level == logging.NOTSET  # put back as it was


def test_only_the_slow_first_load_is_told_when_piped(fake_load):
    stderr, out = consoles(terminal=False)
    assert common.load_attributor(None, stderr) == "attributor"
    with common.progress_line(stderr, "Evaluating", total=3) as update:
        update(completed=2)
    # a log file gets the one line that explains a long silence, and no progress line
    assert out.getvalue() == "Converting the model from GGUF, once (20 s to minutes; later loads take seconds)…\n"


def test_no_bar_in_a_log_file_under_force_color(fake_load):
    out = Screen(terminal=False)  # CI systems set FORCE_COLOR with stderr redirected to a file
    stderr = Console(file=out, force_terminal=True, width=120, color_system=None)
    assert common.load_attributor(None, stderr) == "attributor"
    with common.progress_line(stderr, "Evaluating", total=3) as update:
        update(completed=2)
    converting = "Converting the model from GGUF, once (20 s to minutes; later loads take seconds)…"
    assert out.getvalue().splitlines() == [converting]  # no bar, no cursor movements


def test_a_bar_where_the_work_is_known():
    stderr, out = consoles(terminal=True)
    with common.progress_line(stderr, "Evaluating 2 methods", total=4) as update:
        update("Evaluating 2 methods on case-7", completed=3)
    shown = out.getvalue()
    assert "Evaluating 2 methods on case-7" in shown and "3/4" in shown and "━" in shown


def run_eval_command(monkeypatch, terminal: bool, cases: list[str], ran: list[int]) -> str:
    """``rag-attrib eval --json /dev/null`` over stand-in cases, of which the ones at ``ran`` run (the others were
    kept by a stopped run); what stderr shows."""
    import rag_attrib.eval as ev

    monkeypatch.setattr("rag_attrib.cli.eval.load_attributor", lambda model, stderr, support=True, **_: "attributor")
    monkeypatch.setattr(ev, "load_many", lambda data, limit: cases)
    monkeypatch.setattr(ev, "resolve_methods", lambda methods, attributor=None: (["attnlrp"], {}))
    monkeypatch.setattr(ev, "print_table", lambda report, console: None)

    def run_eval(attributor, cases, names, ks, seed, progress, finished, on_case):
        assert finished is None and on_case is None  # nothing kept beside /dev/null
        for i in ran:
            progress(i, len(cases), f"case-{cases[i]}")
        progress(len(cases), len(cases), "")
        return {"skipped": {}}

    monkeypatch.setattr(ev, "run_eval", run_eval)
    stderr, out = consoles(terminal=terminal)
    args = cli.build_parser().parse_args(["eval", "--json", "/dev/null"])
    assert cli.cmd_eval(args, Console(file=io.StringIO()), stderr) == 0
    return out.getvalue()


@pytest.mark.parametrize("terminal", [True, False])
def test_eval_shows_a_bar_over_the_answers_and_the_time_left(monkeypatch, terminal):
    shown = run_eval_command(monkeypatch, terminal, ["a", "b", "c"], ran=[0, 1, 2])
    if terminal:
        assert "case-b" in shown and "1/3" in shown and "2/3" in shown
        assert re.search(r"left (\d+:\d\d:\d\d|-:--:--)", shown)  # the time-left column (unknown at first)
    else:  # a log file: one line per answer, with an estimate of the time left once one is done
        lines = shown.splitlines()
        assert lines[0] == "answer 1/3 case-a" and lines[1].startswith("answer 2/3 case-b (about ")
        assert lines[1].endswith(" s left)") and len(lines) == 3


def test_a_resumed_eval_estimates_the_time_left_from_the_answers_run_now(monkeypatch):
    """Answers kept from a stopped run took no time here: no estimate until one has run in this sitting."""
    lines = run_eval_command(monkeypatch, False, ["a", "b", "c", "d"], ran=[2, 3]).splitlines()
    assert lines[0] == "answer 3/4 case-c" and lines[1].startswith("answer 4/4 case-d (about ")
