"""A self-contained HTML report: no network fetches, all user text escaped.

Server-side text goes through ``html.escape``; the per-token data travels as JSON inside a
``<script type="application/json">`` block with ``<`` escaped, and the page's script writes it into the
DOM with ``textContent`` only, so a chunk containing ``<script>`` shows as text.

The report is one fragment (``render_fragment``): a summary, then one ``<details>`` per answer whose heat map
is drawn only when it is opened, so a page of 1,000 answers opens as a short list. Its CSS is scoped to the
fragment's root and its element ids are unique, so two fragments can share a page (a Jupyter notebook);
``render_report`` wraps it into a complete page.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..types import finite_json
from . import CARRIED, carried, chunk_tokens, citation_rule, sentence_peaks, short

if TYPE_CHECKING:
    from ..types import AttributionResult
    from ..verification import Verification

Record = tuple[str, "AttributionResult", "Verification | None"]

VERDICT_COLOURS = {"supported": "#d9f2d9", "contradicted": "#e6c3f0", "uncited": "#fff1c2", "miscited": "#ffd9b3",
                   "ungrounded": "#f8c9c9"}
VERDICT_HELP = {
    "supported": "a chunk its markers cite carries the sentence",
    "contradicted": "its top chunk carries the sentence but states another value",
    "uncited": "a chunk carries the sentence, but it has no marker",
    "miscited": "its markers cite chunks other than the ones carrying it",
    "ungrounded": "no chunk carries the sentence",
}
CARRIED_COLOURS = ("#f8c9c9", "#d9f2d9")  # by carried(): no chunk carries it, a chunk does

PAGE_STYLE = "body{margin:0;background:#f5f6f8}"
STYLE = """
.ra{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2328;max-width:1100px;margin:0 auto;
  padding:1.5rem 1rem}
.ra h1{font-size:1.35rem;margin:0 0 .2rem}.ra .meta{color:#656d76;font-size:.88rem;margin:.2rem 0}
.ra .summary{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:.9rem 1.1rem;margin:.8rem 0 1rem}
.ra .stats{display:flex;flex-wrap:wrap;gap:.6rem 2rem}.ra .stat b{display:block;font-size:1.4rem;font-weight:600}
.ra .stat span{color:#656d76;font-size:.82rem}.ra .filters{margin-top:.7rem;font-size:.88rem;color:#656d76}
.ra .chip{display:inline-block;border:1px solid transparent;border-radius:999px;padding:0 .6rem;margin:.15rem .3rem .15rem 0;
  font:inherit;font-size:.85rem;color:#1f2328}
.ra button.chip{cursor:pointer;background:#fff;border-color:#d8dee4}.ra button.chip.on{border-color:#1f2328;
  box-shadow:0 0 0 1px #1f2328}
.ra details.record{background:#fff;border:1px solid #d8dee4;border-radius:8px;margin:.45rem 0}
.ra details.record>summary{cursor:pointer;padding:.5rem .9rem;display:flex;gap:.8rem;align-items:baseline}
.ra details.record[open]>summary{border-bottom:1px solid #eaeef2}
.ra summary .title{font-weight:600;white-space:nowrap}.ra summary .q{color:#656d76;flex:1;overflow:hidden;
  text-overflow:ellipsis;white-space:nowrap}
.ra .dots{white-space:nowrap}.ra .dot{display:inline-block;min-width:1.3em;text-align:center;border-radius:4px;
  font-size:.75rem;margin-left:2px;color:#1f2328}
.ra .body{padding:.4rem 1.1rem 1rem}
.ra .answer{font-size:1.05rem;line-height:1.9;padding:.6rem .9rem;background:#fafbfc;border:1px solid #eaeef2;
  border-radius:6px}
.ra .sent{cursor:pointer;border-radius:3px;padding:2px 3px}.ra .sent.selected{box-shadow:0 0 0 2px #1f2328}
.ra .n{font-size:.7rem;color:#656d76;vertical-align:super;margin:0 1px 0 4px}
.ra .verdict{font-size:.75rem;color:#57606a;margin:0 .2rem}
.ra .keys{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem 1.2rem;font-size:.82rem;color:#57606a;
  margin:.8rem 0 .2rem}
.ra .selected-label{color:#1f2328;font-weight:600;flex-basis:100%}
.ra .bar{display:inline-block;width:110px;height:10px;border-radius:2px;vertical-align:middle;margin:0 .3rem;
  background:linear-gradient(90deg,rgba(40,100,220,.8),#fff 50%,rgba(214,54,54,.8));border:1px solid #d8dee4}
.ra .chunk{border:1px solid #eaeef2;border-radius:6px;margin:.5rem 0;padding:.45rem .8rem}
.ra .chunk.cited{border-color:#9aa5b1}.ra .chunk .head{font-size:.82rem;color:#57606a;margin-bottom:.2rem}
.ra .chunk .head b{color:#1f2328}.ra .tok{white-space:pre-wrap;border-radius:2px}
.ra .ev{outline:1.5px dashed #57606a;outline-offset:1px;border-radius:2px}.ra .ev.best{outline:2px solid #1f2328}
.ra .ev-key{outline:2px solid #1f2328;outline-offset:1px;padding:0 .3rem;border-radius:2px;color:#1f2328}
.ra table{border-collapse:collapse;font-size:.84rem;margin-top:.7rem}
.ra td,.ra th{border:1px solid #eaeef2;padding:3px 9px;text-align:right}
.ra td:first-child,.ra th:first-child{text-align:left}.ra th[data-i]{cursor:pointer;text-decoration:underline dotted}
.ra th.selected{background:#eaeef2}.ra td.cited{font-weight:600}
.ra .errors h2{font-size:1rem}.ra .errors{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:.3rem 1.1rem;margin-top:1rem}
"""

SCRIPT = """
(function(root){
const colour=v=>{ const a=(Math.min(Math.abs(v)/1000,1)*0.8).toFixed(3);
  return v>=0 ? `rgba(214,54,54,${a})` : `rgba(40,100,220,${a})`; };
const data=rec=>rec._data || (rec._data=JSON.parse(rec.querySelector('script.data').textContent));
function select(rec, i){
  if(rec._selected===i) return; rec._selected=i;
  const d=data(rec), sentence=d.sentences[i];
  rec.querySelectorAll('.sent, th[data-i]').forEach(e=>e.classList.toggle('selected', Number(e.dataset.i)===i));
  const box=rec.querySelector('.chunks'); box.textContent='';
  for(const chunk of d.chunks){
    const c=sentence.citations[chunk.id], cited=sentence.cited.includes(chunk.id);
    const div=document.createElement('div'); div.className='chunk'+(cited?' cited':''); div.dataset.chunk=chunk.id;
    const head=document.createElement('div'); head.className='head';
    const b=document.createElement('b'); b.textContent='['+chunk.id+']'; head.appendChild(b);
    head.appendChild(document.createTextNode(` share ${(100*c.share).toFixed(0)}% · score ${c.score.toPrecision(3)}`+
      (cited?' · cited':'')));
    div.appendChild(head);
    let holder=div, current=-1;
    for(const [text, start, rel] of chunk.tokens){
      // a token such as " It" starts with the space before a passage: it belongs where its first letter is
      const lead=text.length-text.trimStart().length, k=c.ev.findIndex(([a,e])=>start+lead>=a && start+lead<e);
      let body=text;
      if(k!==current){
        current=k; holder=div;
        if(k>=0){
          if(lead){ div.appendChild(document.createTextNode(text.slice(0, lead))); body=text.slice(lead); }
          holder=document.createElement('span'); holder.className='ev'+(k===0?' best':'');
          holder.title='evidence: the passage of this chunk that carries the sentence'; div.appendChild(holder); }
      }
      const s=document.createElement('span'); s.className='tok'; s.textContent=body;
      s.style.background=rel[i] ? colour(rel[i]) : ''; s.title='relevance '+(rel[i]/1000*sentence.peak).toPrecision(2);
      holder.appendChild(s);
    }
    box.appendChild(div);
  }
  rec.querySelector('.selected-label').textContent='Sentence '+(i+1)+': '+sentence.text;
  rec.querySelector('.peak').textContent=sentence.peak.toPrecision(3);
}
function pick(e){
  const t=e.target.closest('[data-i]'); const rec=t && t.closest('details.record');
  if(rec && root.contains(rec)) select(rec, Number(t.dataset.i));
}
root.addEventListener('click', pick); root.addEventListener('mouseover', pick);
// the sentence a record opens on: the first one the active filter asks for, else the first
function first(rec){ const s=root._filter && rec.querySelector(`.sent[data-tag="${root._filter}"]`); return s ? Number(s.dataset.i) : 0; }
root.querySelectorAll('details.record').forEach(rec=>{
  rec.addEventListener('toggle', ()=>{ if(rec.open && rec.querySelector('.sent')) select(rec, rec._selected ?? first(rec)); });
  if(rec.open && rec.querySelector('.sent')) select(rec, 0);
});
root.querySelectorAll('button[data-filter]').forEach(button=>button.addEventListener('click', ()=>{
  const f=button.dataset.filter; root._filter=f;
  root.querySelectorAll('button[data-filter]').forEach(x=>x.classList.toggle('on', x===button));
  root.querySelectorAll('details.record').forEach(r=>{
    r.hidden=!!f && !r.dataset.tags.split(' ').includes(f);
    const on=r.querySelector(`.sent[data-i="${r._selected}"]`);
    if(!f || r.hidden || (on && on.dataset.tag===f)) return;  // already on a sentence the filter asks for
    if(r.open) select(r, first(r)); else r._selected=undefined;  // a closed one opens there
  });
}));
})(document.getElementById('__ROOT__'));
"""


def render_html(result: AttributionResult, verification: Verification | None = None, title: str | None = None) -> str:
    """One answer as a complete HTML page."""
    return render_report([(title or "rag_attrib attribution", result, verification)])


def render_report(records: Sequence[Record], errors: Sequence[tuple[str, str]] = ()) -> str:
    """Several answers (a ``verify`` run) in one page; ``errors`` lists (title, message) of the records that could
    not be verified, so none goes missing from the report."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>rag_attrib report</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{render_fragment(records, errors, 'rag_attrib report')}</body></html>"
    )


def render_fragment(records: Sequence[Record], errors: Sequence[tuple[str, str]] = (), heading: str | None = None) -> str:
    """The report as an HTML fragment (no ``<html>`` document): its CSS is scoped and its ids are unique, so it
    works inside a notebook cell, next to other fragments."""
    esc = html.escape
    uid = f"ra-{uuid.uuid4().hex[:12]}"
    single = len(records) == 1
    sections = "".join(_record(f"{uid}-{i}", title, r, v, single) for i, (title, r, v) in enumerate(records))
    if errors:
        items = "".join(f"<li><b>{esc(t)}</b>: {esc(m)}</li>" for t, m in errors)
        sections += f"<section class='errors'><h2>Not verified ({len(errors)})</h2><ul>{items}</ul></section>"
    top = f"<h1>{esc(heading)}</h1>" if heading else ""
    top += ("<p class='meta'>" + ("Open an answer to see its sentences. " if len(records) > 1 else "")
            + "Hover or click a sentence to see which chunk tokens it came from.</p>")
    return (f"<div class='ra' id='{uid}'><style>{STYLE}</style>{top}{_summary(records, len(errors))}{sections}"
            f"<script>{SCRIPT.replace('__ROOT__', uid)}</script></div>")


def _summary(records: Sequence[Record], n_errors: int) -> str:
    """Totals over all records, and the sentence colours, each a filter when there are several records."""
    verifications = [v for _, _, v in records if v is not None]
    n_sentences = sum(len(v.sentences) if v else len(r.sentences) for _, r, v in records)
    stats = [(len(records), "answers" if len(records) != 1 else "answer"), (n_sentences, "sentences")]
    if n_errors:
        stats.append((n_errors, "not verified"))
    keys: list[tuple[str, str, str, int, str]] = []  # (tag, label, colour, count, help)
    if verifications:
        from ..verification import summarize

        summary = summarize(verifications)
        stats += [(_pct(summary["citation_precision"]), "citation precision"),
                  (_pct(summary["citation_recall"]), "citation recall"), (_pct(summary["ungrounded_share"]), "ungrounded"),
                  (_pct(summary["contradicted_share"]), "contradicted")]
        keys += [(v, v, c, summary["verdicts"][v], VERDICT_HELP[v]) for v, c in VERDICT_COLOURS.items()]
    plain = [r for _, r, v in records if v is None]
    if plain:
        levels = [carried(s) for r in plain for s in r.sentences]
        why = ("whether a chunk carries the sentence: it cites one (the support model decides, where there is one; "
               "else the best chunk's share)")
        keys += [(f"c{k}", CARRIED[k], CARRIED_COLOURS[k], levels.count(k), why) for k in (1, 0)]
    stat_html = "".join(f"<div class='stat'><b>{html.escape(str(value))}</b><span>{label}</span></div>"
                        for value, label in stats)
    several = len(records) > 1
    tag = "button" if several else "span"
    chips = "".join(
        f"<{tag} class='chip'{f' data-filter={t!r}' if several else ''} style='background:{c}' "
        f"title='{html.escape(h)}'>{html.escape(label)} · {n}</{tag}>" for t, label, c, n, h in keys
    )
    show = "<button class='chip on' data-filter=''>all</button>" if several else ""
    caption = "Sentences, by colour" + (" (click to show only answers with such a sentence)" if several else "")
    return (f"<div class='summary'><div class='stats'>{stat_html}</div>"
            f"<div class='filters'>{caption}:<br>{show}{chips}</div></div>")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _record(rid: str, title: str, result: AttributionResult, verification: Verification | None, open_: bool) -> str:
    esc = html.escape
    text = verification.answer if verification else result.answer
    spans = [v.span for v in verification.sentences] if verification else [s.span for s in result.sentences]
    answer_parts, dots, tags, pos = [], [], set(), 0
    for i, span in enumerate(spans):
        verdict = verification.sentences[i] if verification else None
        if verdict:
            tag, colour = verdict.verdict, VERDICT_COLOURS[verdict.verdict]
            hint = f" → {', '.join(verdict.suggestion)}" if verdict.suggestion else ""
            if verdict.conflict:
                said = verdict.conflict.span.of(result.chunk(verdict.conflict.chunk_id).text)
                hint = f" ({', '.join(verdict.conflict.kinds)}): {verdict.conflict.chunk_id} says “{said}”"
            label = f"<span class='verdict'>{esc(verdict.verdict + hint)}</span>"
            name = verdict.verdict
        else:
            sentence = result.sentences[i]
            level = carried(sentence)
            tag, colour = f"c{level}", CARRIED_COLOURS[level]
            label = "" if level else "<span class='verdict'>no chunk carries it</span>"
            support = "" if sentence.support is None else f" · support {sentence.support:.0%}"
            name = (f"cited: {', '.join(sentence.cited)}" if level else CARRIED[0]) + \
                f" · grounding {sentence.grounding:.0%}{support}"
        tags.add(tag)
        answer_parts.append(f"{esc(text[pos : span.start])}<span class='n'>{i + 1}</span>"
                            f"<span class='sent' data-i='{i}' data-tag='{tag}' style='background:{colour}'>{esc(span.of(text))}</span>{label}")
        dots.append(f"<span class='dot' style='background:{colour}' title='{i + 1}: {esc(name)}'>{i + 1}</span>")
        pos = span.end
    answer_parts.append(esc(text[pos:]))

    rows = []
    for chunk in result.chunks:
        cells = []
        for s in result.sentences:
            c = next(c for c in s.citations if c.chunk_id == chunk.id)
            cls = " class='cited'" if chunk.id in s.cited else ""
            cells.append(f"<td{cls}>{c.share:.0%} <small>({c.score:.3g})</small></td>")
        rows.append(f"<tr><td>{esc(chunk.id)}</td>{''.join(cells)}</tr>")
    header = "".join(f"<th data-i='{i}' title='{esc(short(s.text, 200))}'>S{i + 1}</th>"
                     for i, s in enumerate(result.sentences))
    grounding = "".join(f"<td>{s.grounding:.0%}</td>" for s in result.sentences)
    support = ("<tr><td title='the probability that some chunk carries the sentence (support model)'>support</td>"
               + "".join(f"<td>{'-' if s.support is None else f'{s.support:.0%}'}</td>" for s in result.sentences)
               + "</tr>") if result.has_support else ""

    data = finite_json(_data(result), "the result", ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    question = f"<p><b>Question:</b> {esc(result.question)}</p>" if result.question else ""
    how = (f"answer given from outside, scored by {esc(result.model)} (teacher forcing)" if result.proxy
           else f"answer generated by {esc(result.model)}")
    keys = ("<div class='keys'><span class='selected-label'></span>"
            "<span>token relevance <span class='bar'></span> full colour: ±<span class='peak'></span> "
            "(one scale for all chunks of the sentence)</span>"
            "<span><span class='ev-key'>evidence</span> the passage of a chunk that carries the sentence "
            "(dashed: the next best)</span></div>")
    return (
        f"<details class='record' id='{esc(rid)}' data-tags='{' '.join(sorted(tags))}'{' open' if open_ else ''}>"
        f"<summary><span class='title'>{esc(title)}</span><span class='q'>{esc(short(result.question or text, 120))}"
        f"</span><span class='dots'>{''.join(dots)}</span></summary><div class='body'>{question}"
        f"<p class='meta'>{how} · target {esc(result.target)} · {esc(citation_rule(result))}</p>"
        f"<div class='answer'>{''.join(answer_parts)}</div>{keys}<div class='chunks'></div>"
        f"<table><tr><th>chunk: share (score)</th>{header}</tr>{''.join(rows)}<tr><td>grounding</td>{grounding}</tr>"
        f"{support}</table></div><script type='application/json' class='data'>{data}</script></details>"
    )


def _data(result: AttributionResult) -> dict[str, Any]:
    """What the page script needs: per chunk its tokens (text, start in the chunk, one relevance per sentence in
    thousandths of the sentence's ``peak``, its colour scale: short integers keep a page of many answers small);
    per sentence its peak, citations and evidence spans."""
    pieces = [chunk_tokens(result, i) for i in range(len(result.chunks))]
    peaks = sentence_peaks(result, pieces)
    chunks = [{"id": chunk.id, "tokens": [[p.text, p.start, [round(1000 * x / peak) if peak else 0
                                                             for x, peak in zip(p.relevance, peaks)]] for p in ps]}
              for chunk, ps in zip(result.chunks, pieces)]
    sentences = [
        {"text": s.text, "cited": list(s.cited), "peak": peak,
         "citations": {c.chunk_id: {"score": c.score, "share": c.share,
                                    "ev": [e.span.to_list() for e in c.evidence]} for c in s.citations}}
        for s, peak in zip(result.sentences, peaks)
    ]
    return {"chunks": chunks, "sentences": sentences}
