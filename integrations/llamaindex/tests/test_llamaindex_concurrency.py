"""aquery, and concurrent queries (threads and asyncio tasks) whose LLM calls overlap: none may be attributed
with another query's prompt or answer."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from rag_attrib_llamaindex import AttributionPostprocessor

# question -> (answer, the only node the answer comes from)
CASES = {
    "Who runs the bakery in Quenby?": ("Mira Tollan runs the bakery.", "bakery"),
    "Who built the Quenby lighthouse?": ("Harald Voss built it in 1872.", "lighthouse"),
    "How often does the ferry sail?": ("The ferry sails six times a day from Ardel.", "ferry"),
    "How many pupils does the school have?": ("The school has forty pupils.", "school"),
}


def make_engine(index, attributor, scripted_llm, delay=0.0):
    llm = scripted_llm(answers={q: a for q, (a, _) in CASES.items()}, delay=delay)
    postprocessor = AttributionPostprocessor(attributor)
    return index.as_query_engine(llm=llm, similarity_top_k=4, node_postprocessors=[postprocessor])


def assert_attributed_to_its_own_query(question, response):
    answer, node_id = CASES[question]
    assert str(response) == answer
    info = response.metadata["attribution"]
    assert info["error"] is None
    assert (info["question"], info["answer"]) == (question, answer)
    assert [c["cited"] for c in response.metadata["citations"]] == [[node_id]]
    assert max(response.source_nodes, key=lambda n: n.score).node.node_id == node_id


def test_aquery_is_attributed(quenby_index, attributor, scripted_llm):
    question = "Who built the Quenby lighthouse?"
    response = asyncio.run(make_engine(quenby_index, attributor, scripted_llm).aquery(question))

    assert_attributed_to_its_own_query(question, response)
    assert question in attributor.calls[-1]["prompt"][-1]["content"]


def test_concurrent_threads_do_not_mix(quenby_index, attributor, scripted_llm):
    engine = make_engine(quenby_index, attributor, scripted_llm, delay=0.05)  # every LLM call overlaps the others
    questions = list(CASES) * 2
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        responses = list(pool.map(engine.query, questions))

    for question, response in zip(questions, responses, strict=True):
        assert_attributed_to_its_own_query(question, response)
    assert len(attributor.calls) == len(questions)
    assert all(call["question"] in call["prompt"][-1]["content"] for call in attributor.calls)


def test_concurrent_asyncio_tasks_do_not_mix(quenby_index, attributor, scripted_llm):
    engine = make_engine(quenby_index, attributor, scripted_llm, delay=0.05)
    questions = list(CASES) * 2

    async def ask_all():
        return await asyncio.gather(*(engine.aquery(q) for q in questions))

    for question, response in zip(questions, asyncio.run(ask_all()), strict=True):
        assert_attributed_to_its_own_query(question, response)
    assert all(call["question"] in call["prompt"][-1]["content"] for call in attributor.calls)
