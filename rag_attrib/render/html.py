"""A self-contained HTML report: no network fetches, all user text escaped.

Server-side text goes through ``html.escape``; the per-token data travels as JSON inside a
``<script type="application/json">`` block with ``<`` escaped, and the page's script writes it into the
DOM with ``textContent`` only, so a chunk containing ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import chunk_tokens, grounding_level

if TYPE_CHECKING:
    from ..types import AttributionResult
    from ..verify import Verification

VERDICT_COLOURS = {"supported": "#d9f2d9", "uncited": "#fff1c2", "miscited": "#ffd9b3", "ungrounded": "#f8c9c9"}

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9rem}.answer{font-size:1.05rem;padding:.8rem 1rem;background:#fafafa;border:1px solid #e3e3e3;border-radius:6px}
.sent{cursor:pointer;border-radius:3px;padding:1px 2px;border-bottom:2px solid transparent}
.sent.selected{border-bottom-color:#222;outline:1px solid #222}
.chunk{border:1px solid #e3e3e3;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.chunk .head{font-size:.85rem;color:#555;margin-bottom:.3rem}.chunk .head b{color:#222}
.tok{white-space:pre-wrap;border-radius:2px}
table{border-collapse:collapse;font-size:.85rem;margin-top:.5rem}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.legend span{padding:1px 6px;border-radius:3px;margin-right:.5rem}
.verdict{font-size:.75rem;color:#555;margin-left:.2rem}.cited{font-weight:600}
"""

SCRIPT = """
function colour(v, max){ if(!max) return 'transparent'; const a=Math.min(Math.abs(v)/max,1)*0.85;
  return v>=0 ? `rgba(220,40,40,${a})` : `rgba(40,90,220,${a})`; }
function select(section, i){
  const data = JSON.parse(section.querySelector('script.data').textContent);
  section.querySelectorAll('.sent').forEach(s=>s.classList.toggle('selected', Number(s.dataset.i)===i));
  const box = section.querySelector('.chunks'); box.textContent='';
  const sentence = data.sentences[i];
  for(const chunk of data.chunks){
    const div=document.createElement('div'); div.className='chunk'; div.dataset.chunk=chunk.id;
    const head=document.createElement('div'); head.className='head';
    const c = sentence.citations[chunk.id];
    const b=document.createElement('b'); b.textContent='['+chunk.id+']'; head.appendChild(b);
    head.appendChild(document.createTextNode(` score ${c.score.toFixed(2)} · share ${(100*c.share).toFixed(0)}%` +
      (sentence.cited.includes(chunk.id) ? ' · cited' : '')));
    div.appendChild(head);
    const max = Math.max(1e-12, ...chunk.tokens.map(t=>Math.abs(t[1][i])));
    for(const [text, rel] of chunk.tokens){
      const s=document.createElement('span'); s.className='tok'; s.textContent=text;
      s.style.background=colour(rel[i], max); s.title=rel[i].toFixed(4); div.appendChild(s);
    }
    box.appendChild(div);
  }
  section.querySelector('.selected-label').textContent = 'Sentence ' + (i+1) + ': ' + sentence.text;
}
document.querySelectorAll('section.record').forEach(section=>{
  section.querySelectorAll('.sent').forEach(s=>{
    const i=Number(s.dataset.i);
    s.addEventListener('click', ()=>select(section, i)); s.addEventListener('mouseenter', ()=>select(section, i));
  });
  if(section.querySelector('.sent')) select(section, 0);
});
"""


def render_html(result: AttributionResult, verification: Verification | None = None, title: str | None = None) -> str:
    """One answer as a complete HTML page."""
    return render_report([(title or "rag_attrib attribution", result, verification)])


def render_report(
    records: Sequence[tuple[str, AttributionResult, Verification | None]],
    errors: Sequence[tuple[str, str]] = (),
) -> str:
    """Several answers (a ``verify`` run) in one page, one section each; ``errors`` lists (title, message)
    of the records that could not be verified, so none goes missing from the report."""
    sections = "\n".join(_section(i, title, r, v) for i, (title, r, v) in enumerate(records))
    if errors:
        items = "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(m)}</li>" for t, m in errors)
        sections += f"<section class='errors'><h2>Not verified ({len(errors)})</h2><ul>{items}</ul></section>"
    legend = "".join(f'<span style="background:{c}">{v}</span>' for v, c in VERDICT_COLOURS.items())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>rag_attrib report</title>"
        f"<style>{STYLE}</style></head><body><h1>rag_attrib report</h1>"
        f"<p class='meta'>Click or hover a sentence to see which context tokens it came from "
        f"(red: positive relevance, blue: negative). Verdict colours: </p><p class='legend'>{legend}</p>"
        f"{sections}<script>{SCRIPT}</script></body></html>"
    )


def _section(index: int, title: str, result: AttributionResult, verification: Verification | None) -> str:
    esc = html.escape
    answer_parts, pos = [], 0
    text = verification.answer if verification else result.answer
    spans = [v.span for v in verification.sentences] if verification else [s.span for s in result.sentences]
    for i, span in enumerate(spans):
        answer_parts.append(esc(text[pos : span.start]))
        verdict = verification.sentences[i] if verification else None
        colour = VERDICT_COLOURS[verdict.verdict] if verdict else _grounding_colour(result.sentences[i].grounding)
        label = ""
        if verdict:
            hint = f" → {', '.join(verdict.suggestion)}" if verdict.suggestion else ""
            label = f"<span class='verdict'>{esc(verdict.verdict + hint)}</span>"
        answer_parts.append(
            f"<span class='sent' data-i='{i}' style='background:{colour}'>{esc(span.of(text))}</span>{label}"
        )
        pos = span.end
    answer_parts.append(esc(text[pos:]))

    rows = []
    for chunk in result.chunks:
        cells = []
        for s in result.sentences:
            c = next(c for c in s.citations if c.chunk_id == chunk.id)
            cls = " class='cited'" if chunk.id in s.cited else ""
            cells.append(f"<td{cls}>{c.score:.2f} ({c.share:.0%})</td>")
        rows.append(f"<tr><td>{esc(chunk.id)}</td>{''.join(cells)}</tr>")
    header = "".join(f"<th>S{i + 1}</th>" for i in range(len(result.sentences)))
    grounding = "".join(f"<td>{s.grounding:.0%}</td>" for s in result.sentences)

    data = json.dumps(_data(result), ensure_ascii=False).replace("<", "\\u003c")
    question = f"<p><b>Question:</b> {esc(result.question)}</p>" if result.question else ""
    how = (f"answer given from outside, scored by {esc(result.model)} (teacher forcing)" if result.proxy
           else f"answer generated by {esc(result.model)}")
    return (
        f"<section class='record' id='record-{index}'><h2>{esc(title)}</h2>{question}"
        f"<p class='meta'>{how} · target {esc(result.target)} · cited when share ≥ {result.min_share:.0%}</p>"
        f"<div class='answer'>{''.join(answer_parts)}</div>"
        f"<p class='selected-label meta'></p><div class='chunks'></div>"
        f"<table><tr><th>chunk</th>{header}</tr>{''.join(rows)}<tr><td>grounding</td>{grounding}</tr></table>"
        f"<script type='application/json' class='data'>{data}</script></section>"
    )


def _data(result: AttributionResult) -> dict[str, Any]:
    """What the page script needs: per chunk, its tokens with one relevance per sentence."""
    chunks = [
        {"id": chunk.id, "tokens": [[text, rel] for text, rel in chunk_tokens(result, i)]}
        for i, chunk in enumerate(result.chunks)
    ]
    sentences = [
        {"text": s.text, "cited": list(s.cited),
         "citations": {c.chunk_id: {"score": c.score, "share": c.share} for c in s.citations}}
        for s in result.sentences
    ]
    return {"chunks": chunks, "sentences": sentences}


def _grounding_colour(grounding: float) -> str:
    return ("#f8c9c9", "#fff1c2", "#d9f2d9")[grounding_level(grounding)]
