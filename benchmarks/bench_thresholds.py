"""Where to put the share threshold that decides "a chunk carries this sentence", measured.

    python benchmarks/bench_thresholds.py

Attributes sentences stated in exactly one chunk (supported) and sentences stated in no chunk
(unsupported: general knowledge or invented facts) on the embedded model, and prints, for each group,
the share of the best chunk and the total grounding share, plus the threshold on the best chunk's
share that separates the groups with the fewest mistakes.
"""

from __future__ import annotations

from rag_attrib import Attributor, Chunk

TOWN = [
    Chunk("festival", "The Zorblat festival is held every March in the town of Quenby. It features lantern boats on the river."),
    Chunk("bakery", "Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake that locals eat at breakfast."),
    Chunk("lighthouse", "The Quenby lighthouse was built in 1872 by the engineer Harald Voss and is painted green and white."),
    Chunk("ferry", "Quenby has a population of about 4,000 people and is reached by ferry from the mainland port of Ardel."),
]
LAB = [
    Chunk("founding", "The Veltrane Institute was founded in 1958 by the chemist Oda Lindqvist in the city of Morrow."),
    Chunk("prize", "In 2011 the institute's team led by Tomas Reyl won the Harrow Prize for a new catalyst made from iron."),
    Chunk("campus", "The Veltrane campus has nine buildings and a library holding 80,000 volumes, most of them on chemistry."),
    Chunk("funding", "The institute is funded by the city of Morrow and by fees from about 300 industrial partners."),
]
SUPPORTED = [
    (TOWN, "Who built the Quenby lighthouse?", "The lighthouse was built by Harald Voss in 1872."),
    (TOWN, "Who runs the bakery?", "The bakery is run by Mira Tollan. It sells tollencake."),
    (TOWN, "How do you get to Quenby?", "You take the ferry from Ardel."),
    (TOWN, "When is the festival?", "The Zorblat festival is held every March. It has lantern boats."),
    (LAB, "Who founded the Veltrane Institute?", "It was founded by Oda Lindqvist in 1958."),
    (LAB, "What prize did the institute win?", "Tomas Reyl's team won the Harrow Prize in 2011."),
    (LAB, "How big is the library?", "The library holds 80,000 volumes."),
    (LAB, "Who funds the institute?", "The city of Morrow funds it, with about 300 industrial partners."),
]
UNSUPPORTED = [
    (TOWN, "Who built the Quenby lighthouse?", "Paris is the capital of France. Water boils at 100 degrees Celsius."),
    (TOWN, "What is Quenby known for?", "The Eiffel Tower is in Paris. Dogs are loyal animals."),
    (TOWN, "Who runs the bakery?", "The bakery won a national prize in 2019. It employs twelve people."),
    (TOWN, "How big is Quenby?", "Mount Everest is the highest mountain on Earth. Bananas are yellow."),
    (LAB, "Who founded the Veltrane Institute?", "The institute has a famous rowing team. Its motto is written in Latin."),
    (LAB, "What prize did the institute win?", "Albert Einstein won the Nobel Prize in 1921."),
    (LAB, "How big is the library?", "The library is open on Sundays. It has a coffee shop on the roof."),
]


def measure(attributor: Attributor, cases) -> list[tuple[float, float, str]]:
    rows = []
    for chunks, question, answer in cases:
        for s in attributor.attribute(question, chunks, answer).sentences:
            rows.append((s.citations[0].share, s.grounding, s.text))
    return rows


def main() -> None:
    attributor = Attributor.load()
    supported, unsupported = measure(attributor, SUPPORTED), measure(attributor, UNSUPPORTED)
    for name, rows in (("supported", supported), ("unsupported", unsupported)):
        top = sorted(r[0] for r in rows)
        grounding = sorted(r[1] for r in rows)
        print(f"{name:12} n={len(rows):2}  best-chunk share {top[0]:.2f}-{top[-1]:.2f}  "
              f"grounding {grounding[0]:.2f}-{grounding[-1]:.2f}")
    candidates = sorted({round(r[0], 2) for r in supported + unsupported})
    best = min(candidates, key=lambda t: sum(r[0] < t for r in supported) + sum(r[0] >= t for r in unsupported))
    mistakes = sum(r[0] < best for r in supported) + sum(r[0] >= best for r in unsupported)
    print(f"best threshold on the best chunk's share: {best:.2f} ({mistakes} mistakes of "
          f"{len(supported) + len(unsupported)})")
    grounding_best = min(candidates, key=lambda t: sum(r[1] < t for r in supported) + sum(r[1] >= t for r in unsupported))
    g_mistakes = sum(r[1] < grounding_best for r in supported) + sum(r[1] >= grounding_best for r in unsupported)
    print(f"best threshold on the grounding share:     {grounding_best:.2f} ({g_mistakes} mistakes)")
    for share, grounding, text in sorted(unsupported, reverse=True)[:3]:
        print(f"  highest unsupported: {share:.2f} {grounding:.2f} {text}")
    for share, grounding, text in sorted(supported)[:3]:
        print(f"  lowest supported:    {share:.2f} {grounding:.2f} {text}")


if __name__ == "__main__":
    main()
