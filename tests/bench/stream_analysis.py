"""What one ``bench_streams`` run shows: per-stream sequence checks (lost, duplicated,
reordered words; whole streams), one-way latency (reader arrival - upstream send, one
clock), added inter-frame latency (reader gap - upstream gap for the same two words), and
the reader's gap where a cut stream was resumed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tests.bench.stream_reader import SeqTrace


@dataclass(slots=True)
class Analysis:
    streams: int = 0
    whole: int = 0
    failed: int = 0  # not a 200, or an error, or no [DONE]
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    words: int = 0
    one_way: list[float] = field(default_factory=list)
    added_gap: list[float] = field(default_factory=list)
    resume_gaps: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def analyse(
    traces: Sequence[SeqTrace], sent_by_key: Mapping[str, list[list[float]]], resumed: frozenset[str], words: int
) -> Analysis:
    """``sent_by_key``: the upstream's ``{key: [[word number, sent at], ...]}``; ``resumed``:
    keys of the streams cut after ``words // 2`` words, to be resumed."""
    out = Analysis(streams=len(traces))
    expected = list(range(1, words + 1))
    for trace in traces:
        sent = {int(n): t for n, t in sent_by_key.get(trace.key, [])}  # a word sent twice: the last send
        seqs, times = list(trace.seqs), list(trace.times)
        distinct = set(seqs)
        out.words += len(seqs)
        out.lost += sum(1 for n in expected if n not in distinct)
        out.duplicated += len(seqs) - len(distinct)
        out.reordered += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
        ok = trace.status == 200 and trace.error is None and trace.done and trace.complete
        out.failed += 0 if ok else 1
        if ok and seqs == expected:
            out.whole += 1
        elif len(out.examples) < 3:
            out.examples.append(
                f"{trace.key}: status {trace.status}, {len(seqs)} words (last {seqs[-1:]}), done {trace.done}, "
                f"error {trace.error}"
            )
        for i, (number, arrived) in enumerate(zip(seqs, times, strict=True)):
            upstream_at = sent.get(number)
            if upstream_at is not None:
                out.one_way.append(arrived - upstream_at)
            if i and seqs[i - 1] == number - 1:
                before = sent.get(number - 1)
                if upstream_at is not None and before is not None:
                    out.added_gap.append((arrived - times[i - 1]) - (upstream_at - before))
                if trace.key in resumed and number == words // 2 + 1:
                    out.resume_gaps.append(arrived - times[i - 1])
    out.one_way.sort()
    out.added_gap.sort()
    out.resume_gaps.sort()
    return out
