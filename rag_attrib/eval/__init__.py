"""Measure what rag_attrib claims: faithfulness and plausibility of attribution methods, side by side.

    from rag_attrib import Attributor
    from rag_attrib.eval import load_cases, run_eval, print_table

    report = run_eval(Attributor.load(), load_cases(limit=5), methods=["attnlrp", "lexical", "loo"])
    print_table(report)

or ``rag-attrib eval [--data PATH] [--methods a,b,c] [--json OUT] [--limit N] [--model M]``.
"""

from .data import EvalCase, EvalDataError, EvalSentence, load_cases, load_many, shipped_path
from .methods import DEFAULT_METHODS, METHODS, Method, MethodOutput, Prepared, method, prepare, sentence_logprobs
from .run import resolve_methods, run_eval
from .table import print_table, to_markdown

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "EvalCase",
    "EvalDataError",
    "EvalSentence",
    "Method",
    "MethodOutput",
    "Prepared",
    "load_cases",
    "load_many",
    "method",
    "prepare",
    "print_table",
    "resolve_methods",
    "run_eval",
    "sentence_logprobs",
    "shipped_path",
    "to_markdown",
]
