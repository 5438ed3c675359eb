"""Sorting customers' words into the feedback taxonomy (engine/feedback_taxonomy.py), Chinese and
English, several classes per text.

Two readers vote, and a class either gives is assigned:
* the taxonomy's rules, which process owners edit: a rule is a word or words joined by "+"
  that must all appear in one clause of the text (clauses end at punctuation), lower-cased;
  a word written "!退款" must not appear in it ("还没到+!退款": a parcel, not a refund);
* a naive Bayes model per class (this class or not), trained on the labelled examples kept in
  the repository (bpmn/feedback/labelled.tsv, the `train` part), over the words jieba cuts the
  text into (the rules' words are added to jieba's dictionary, so "退款" stays one word). It
  catches wordings the rules do not list; it adds a class only when its posterior passes the
  taxonomy's `model.threshold`. The shipped table sets 0.99, chosen by five-fold cross-validation
  on the train rows alone (macro-F1 0.967 at 0.6, 0.981 at 0.9, 0.982 at 0.99): on a few hundred
  examples the model mostly adds false positives to the rules, and only a sure model may speak.
A text neither recognises is the taxonomy's `other` class. The model is written out here
(counts and logarithms, some forty lines) rather than taken from scikit-learn: a few hundred
short texts need nothing more, and the platform does not carry numpy and scipy for it.

Building a classifier costs jieba's dictionary load (about a second, once per process) and a
pass over the examples; `for_taxonomy` keeps one per taxonomy version and examples file.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jieba

from engine.errors import InvalidInput

jieba.setLogLevel(logging.WARNING)

EXAMPLES = Path("feedback") / "labelled.tsv"     # under the settings' bpmn_dir
SPLITS = ("train", "test")
_CLAUSE_END = re.compile(r"[，。！？、；：,.!?;:\n\r()（）]+")
_HAS_WORD = re.compile(r"\w")
# Words too common to tell classes apart.
STOP_WORDS = frozenset("了 的 也 都 我 是 在 吗 呢 啊 吧 着 这 那 一个 你们 他们 the a an to of "
                       "and is it i my was me for on in at".split())


@dataclass(frozen=True)
class Example:
    text: str
    labels: frozenset[str]
    split: str


def load_examples(path: Path) -> list[Example]:
    """The labelled examples of a TSV file with the header `split<TAB>labels<TAB>text`
    (labels joined by "|"). Raises InvalidInput naming the line of a malformed row."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["split", "labels", "text"]:
        raise InvalidInput(f"{path}: the first line must be split<TAB>labels<TAB>text",
                           field="line 1")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in SPLITS or not parts[2].strip() \
                or not all(parts[1].split("|")):
            raise InvalidInput(f"{path}: line {number} must be train|test<TAB>labels<TAB>text",
                               field=f"line {number}")
        examples.append(Example(parts[2], frozenset(parts[1].split("|")), parts[0]))
    return examples


class Classifier:
    """The taxonomy `source`'s rules and a model trained on `examples` (their labels outside
    the taxonomy are ignored)."""

    def __init__(self, source: dict, examples: list[Example]):
        self.names = [entry["name"] for entry in source["classes"]]
        self.other = source["other"]["name"]
        self.threshold = (source.get("model") or {}).get("threshold", 0.6)
        self.rules = {entry["name"]: [_Rule.read(rule) for rule in entry["rules"]]
                      for entry in source["classes"]}
        # Every word the rules name, and each rule (with its class) under the first word it
        # needs: a clause is searched once for each word, and only the rules of the words it
        # holds are tested (the shipped taxonomy has some 400 rules; a text, a handful).
        self._words = sorted({word for rules in self.rules.values() for rule in rules
                              for word in rule.present + rule.absent})
        self._rules_by_word: dict[str | None, list[tuple[str, _Rule]]] = {}
        for name, rules in self.rules.items():
            for rule in rules:
                first = rule.present[0] if rule.present else None
                self._rules_by_word.setdefault(first, []).append((name, rule))
        self.tokenizer = jieba.Tokenizer()
        for rules in self.rules.values():
            for rule in rules:
                for word in rule.present:
                    if " " not in word:
                        self.tokenizer.add_word(word)
        self.model = _NaiveBayes(self.names, [(self.terms(e.text), e.labels) for e in examples])

    def terms(self, text: str) -> list[str]:
        """The words of `text` as jieba cuts it, lower-cased, without punctuation and stop
        words (the model's features, the word cloud's terms)."""
        return [word for word in self.tokenizer.lcut(text.lower())
                if _HAS_WORD.search(word) and word.strip() not in STOP_WORDS]

    def by_rules(self, text: str) -> set[str]:
        """The classes a rule of which matches a clause of `text`."""
        found = set()
        for clause in _CLAUSE_END.split(text.lower()):
            if not clause.strip():
                continue
            held = {word for word in self._words if word in clause}
            for first in (*held, None):
                found.update(name for name, rule in self._rules_by_word.get(first, ())
                             if rule.holds(held))
        return found

    def classify(self, text: str) -> list[str]:
        """The class names of `text` in the taxonomy's order; [other] when none applies."""
        found = self.by_rules(text)
        found |= {name for name, p in self.model.posteriors(self.terms(text)).items()
                  if p >= self.threshold}
        return [name for name in self.names if name in found] or [self.other]


@dataclass(frozen=True)
class _Rule:
    present: tuple[str, ...]
    absent: tuple[str, ...]

    @classmethod
    def read(cls, text: str) -> _Rule:
        parts = [part.strip().lower() for part in text.split("+")]
        return cls(tuple(p for p in parts if not p.startswith("!")),
                   tuple(p[1:] for p in parts if p.startswith("!")))

    def holds(self, held: set[str]) -> bool:
        """Whether the rule matches a clause that holds, of all the rules' words, `held`."""
        return held.issuperset(self.present) and held.isdisjoint(self.absent)


class _NaiveBayes:
    """One multinomial naive Bayes per class (the class against the rest), Laplace smoothed."""

    def __init__(self, names: list[str], documents: list[tuple[list[str], frozenset[str]]]):
        self.vocabulary = {word for words, _ in documents for word in words}
        self.classes = {}
        for name in names:
            inside, outside = Counter(), Counter()
            n_inside = 0
            for words, labels in documents:
                if name in labels:
                    inside.update(words)
                    n_inside += 1
                else:
                    outside.update(words)
            n_outside = len(documents) - n_inside
            if n_inside and n_outside:
                self.classes[name] = (math.log(n_inside / n_outside), inside, outside,
                                      sum(inside.values()), sum(outside.values()))

    def posteriors(self, words: list[str]) -> dict[str, float]:
        """P(class | words) for each class with examples on both sides."""
        size = len(self.vocabulary)
        result = {}
        for name, (prior, inside, outside, total_in, total_out) in self.classes.items():
            odds = prior
            for word in words:
                if word in self.vocabulary:
                    odds += math.log((inside[word] + 1) / (total_in + size))
                    odds -= math.log((outside[word] + 1) / (total_out + size))
            result[name] = 1 / (1 + math.exp(-odds)) if odds > -700 else 0.0
        return result


def evaluate(classifier: Classifier, examples: list[Example]) -> dict:
    """Precision, recall and F1 per class (every class of the taxonomy and `other`) over
    `examples`, and their macro averages: {"classes": {name: {precision, recall, f1, support}},
    "macro": {precision, recall, f1}, "examples": n}. A class never predicted nor present
    counts as 0 in the averages only if it has support."""
    names = classifier.names + [classifier.other]
    counts = {name: Counter() for name in names}
    for example in examples:
        predicted = set(classifier.classify(example.text))
        for name in names:
            truth = name in example.labels
            guess = name in predicted
            counts[name]["tp" if truth and guess else "fp" if guess else "fn" if truth else "tn"] += 1
    figures = {}
    for name, c in counts.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        figures[name] = {"precision": round(precision, 3), "recall": round(recall, 3),
                         "f1": round(f1, 3), "support": c["tp"] + c["fn"]}
    scored = [f for f in figures.values() if f["support"]]
    macro = {key: round(sum(f[key] for f in scored) / len(scored), 3) if scored else 0.0
             for key in ("precision", "recall", "f1")}
    return {"classes": figures, "macro": macro, "examples": len(examples)}


_BUILT: dict[tuple, Classifier] = {}
MAX_BUILT = 8       # drafts tried in the owners' editor each build one; the oldest go


def for_taxonomy(source: dict, sha256: str, bpmn_dir: Path) -> Classifier:
    """The classifier of the taxonomy version `sha256`, trained on the `train` part of the
    examples in `bpmn_dir`, built once per process (and again when the file changes)."""
    key = _key(sha256, bpmn_dir)
    if key not in _BUILT:
        train = [e for e in load_examples(bpmn_dir / EXAMPLES) if e.split == "train"]
        while len(_BUILT) >= MAX_BUILT:
            del _BUILT[next(iter(_BUILT))]
        _BUILT[key] = Classifier(source, train)
    return _BUILT[key]


def built(sha256: str, bpmn_dir: Path) -> Classifier | None:
    """The classifier `for_taxonomy` has built for `sha256` and the examples as they are, if
    it has: the taxonomy's source need not be read for it."""
    return _BUILT.get(_key(sha256, bpmn_dir))


def _key(sha256: str, bpmn_dir: Path) -> tuple:
    path = bpmn_dir / EXAMPLES
    return sha256, str(path), path.stat().st_mtime_ns
