"""Attribution cost against one forward pass, measured in one run (`make bench`: on SmolLM2).

    python benchmarks/bench_attribute.py [--model M] [--repeats N]

Prints the time of one no-grad forward pass over prompt + answer, the time of a whole attribution
(``Attributor.attribute`` with the answer given: tokenise, forward with the rules, one backward per
sentence, aggregate), their ratio, and the two backward strategies (one backward per sentence reusing
the graph, against one vmapped backward for all sentences). Medians over ``--repeats`` runs, interleaved
so that machine noise hits every measurement alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rag_attrib import Attributor, Chunk
from rag_attrib.lrp.relevance import sentence_relevance

TOPICS = [
    ("lighthouse", ("The Quenby lighthouse was built in 1872 by the engineer Harald Voss. It stands on Tern Point, "
     "is painted green and white, and its lamp was converted from oil to electricity in 1931.")),
    ("bakery", ("Quenby's bakery, run by Mira Tollan since 1998, sells a honey bread called tollencake. Locals eat "
     "it at breakfast with salted butter, and the bakery opens at five every morning except Sundays.")),
    ("festival", ("The Zorblat festival is held every March in Quenby. It features lantern boats on the river, a "
     "brass band from Ardel, and a contest for the longest braided rope, won in 2019 by Ilse Marr.")),
    ("ferry", ("Quenby is reached by ferry from the mainland port of Ardel. The crossing takes forty minutes, the "
     "ferry Gull Maiden runs six times a day in summer, and bicycles travel free of charge.")),
    ("school", ("The Quenby school has 212 pupils and four classrooms. Its head teacher, Oskar Brenn, started a "
     "sailing club in 2015, and the pupils race small boats in the harbour every June.")),
    ("harbour", ("Quenby harbour shelters about thirty fishing boats. The catch is mostly herring and crab, sold "
     "each morning at the fish market beside the old customs house, which is now a museum.")),
]
QUESTION = "Who built the Quenby lighthouse, and what does the bakery sell?"
ANSWER = ("The Quenby lighthouse was built in 1872 by Harald Voss. It is painted green and white. "
          "The bakery sells a honey bread called tollencake. Locals eat it at breakfast.")


def chunks(copies: int) -> list[Chunk]:
    """The six topics, each repeated ``copies`` times with a different id (to reach the prompt length)."""
    return [Chunk(f"{name}-{i}", text) for i in range(copies) for name, text in TOPICS]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a named offline model, a path or a cached hub id (default: the default model)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=2, help="copies of the six chunks (2 gives ~600 tokens)")
    args = parser.parse_args()

    attributor = Attributor.load(args.model)
    model, tokenizer = attributor.model, attributor.tokenizer
    result = attributor.attribute(QUESTION, chunks(args.copies), ANSWER)  # warm-up, and the token counts
    tr = result.token_relevance
    ids = tokenizer(result.prompt, add_special_tokens=False)["input_ids"] + tokenizer(ANSWER, add_special_tokens=False)["input_ids"]
    ids = torch.tensor(ids, device=model.device)
    answer_start = tr.answer_start
    answer_ids = tokenizer(ANSWER, add_special_tokens=False, return_offsets_mapping=True)
    from rag_attrib.text import char_to_token_spans

    spans = [(answer_start + a, answer_start + b) for a, b in
             char_to_token_spans(ANSWER, answer_ids["offset_mapping"], [s.span for s in result.sentences])]

    def forward():
        with torch.no_grad():
            model(ids[None], use_cache=False)

    measurements: dict[str, list[float]] = {"forward": [], "attribute": [], "loop": [], "batched": []}
    for _ in range(args.repeats):
        measurements["forward"].append(timed(forward))
        measurements["attribute"].append(timed(lambda: attributor.attribute(QUESTION, chunks(args.copies), ANSWER)))
        measurements["loop"].append(timed(lambda: sentence_relevance(model, ids, answer_start, spans, backward="loop")))
        measurements["batched"].append(
            timed(lambda: sentence_relevance(model, ids, answer_start, spans, backward="batched"))
        )
    med = {k: statistics.median(v) for k, v in measurements.items()}

    device = str(model.device) if model.device.type != "cpu" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"model: {attributor.model_name}  device: {device}  dtype: {model.dtype}")
    print(f"tokens: {len(ids)} ({answer_start} prompt + {len(ids) - answer_start} answer), "
          f"sentences: {len(result.sentences)}, repeats: {args.repeats} (medians)")
    print(f"forward (no grad, all logits)    {med['forward'] * 1000:8.1f} ms")
    print(f"attribution (whole call)         {med['attribute'] * 1000:8.1f} ms")
    print(f"  ratio attribution / forward    {med['attribute'] / med['forward']:8.2f}")
    print(f"relevance, backward per sentence {med['loop'] * 1000:8.1f} ms   ratio {med['loop'] / med['forward']:.2f}")
    print(f"relevance, one batched backward  {med['batched'] * 1000:8.1f} ms   ratio {med['batched'] / med['forward']:.2f}")
    faster = "loop" if med["loop"] <= med["batched"] else "batched"
    print(f"faster backward here: {faster} (default: {attributor.backward})")


if __name__ == "__main__":
    main()
