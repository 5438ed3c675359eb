"""The feedback classifier (engine/feedback_classifier.py) and the taxonomy's checks
(engine/feedback_taxonomy.py), on small taxonomies and examples written here."""
from __future__ import annotations

import pytest

from engine import feedback_classifier as fc
from engine import feedback_taxonomy
from engine.errors import InvalidInput
from tests.conftest import ROOT


def taxonomy(**rules) -> dict:
    return {"other": {"code": "other", "name": "其他", "en": "Other"},
            "model": {"threshold": 0.6},
            "classes": [{"code": code, "name": name, "en": code, "rules": words}
                        for code, (name, words) in rules.items()]}


SLOW_REFUND = taxonomy(slow_delivery=("物流慢", ["物流+慢", "还没到+!退款"]),
                       slow_refund=("退款慢", ["退款+没"]))


def example(text, *labels, split="train"):
    return fc.Example(text, frozenset(labels), split)


def test_rules_need_every_word_in_one_clause_and_none_of_the_excluded():
    classifier = fc.Classifier(SLOW_REFUND, [])
    assert classifier.classify("物流太慢了") == ["物流慢"]
    assert classifier.classify("物流很好，但是太慢") == ["其他"]    # two clauses
    assert classifier.classify("包裹还没到") == ["物流慢"]
    assert classifier.classify("退款还没到") == ["退款慢"]          # "!退款" keeps it out
    assert classifier.classify("Delivery 物流 SLOW 慢，退款没到") == ["物流慢", "退款慢"]


def test_the_shipped_rules_match_every_labelled_text_as_they_are_written():
    # by_rules looks only at the rules of the words a clause holds: the same classes as
    # reading every rule against every clause.
    classifier = fc.Classifier(feedback_taxonomy.shipped_source(ROOT / "bpmn"), [])
    texts = [e.text for e in fc.load_examples(ROOT / "bpmn" / fc.EXAMPLES)]
    classified = 0
    for text in texts:
        clauses = [c for c in fc._CLAUSE_END.split(text.lower()) if c.strip()]
        written = {name for name, rules in classifier.rules.items()
                   if any(all(word in clause for word in rule.present)
                          and not any(word in clause for word in rule.absent)
                          for rule in rules for clause in clauses)}
        assert classifier.by_rules(text) == written, text
        classified += bool(written)
    assert classified > len(texts) / 2


def test_the_model_adds_a_class_the_rules_do_not_list():
    examples = [example(f"东西{w}质量很差", "质量问题") for w in "甲乙丙丁戊己庚辛"] + \
               [example(f"物流{w}很快", "其他") for w in "甲乙丙丁戊己庚辛"]
    source = taxonomy(quality=("质量问题", []))
    classifier = fc.Classifier(source, examples)
    assert classifier.by_rules("做工质量差") == set()
    assert classifier.classify("做工质量差") == ["质量问题"]
    assert classifier.classify("物流很快") == ["其他"]


def test_terms_are_jiebas_words_without_punctuation_and_stop_words():
    classifier = fc.Classifier(SLOW_REFUND, [])
    # The rules' words are in jieba's dictionary: "还没到" stays one word.
    assert classifier.terms("退款到现在还没到了！") == ["退款", "到", "现在", "还没到"]


def test_evaluate_counts_precision_and_recall_per_class():
    classifier = fc.Classifier(SLOW_REFUND, [])
    figures = fc.evaluate(classifier, [example("物流慢", "物流慢"), example("退款没到", "物流慢"),
                                       example("很好", "其他")])
    assert figures["classes"]["物流慢"] == {"precision": 1.0, "recall": 0.5, "f1": 0.667,
                                         "support": 2}
    assert figures["classes"]["退款慢"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 0}
    assert figures["macro"]["f1"] == pytest.approx((0.667 + 1.0) / 2, abs=1e-3)


def test_the_shipped_set_has_300_labelled_examples_of_every_class_in_both_parts():
    examples = fc.load_examples(ROOT / "bpmn" / fc.EXAMPLES)
    shipped = feedback_taxonomy.shipped_source(ROOT / "bpmn")
    names = set(feedback_taxonomy.class_names(shipped))
    assert len(examples) >= 300 and len({e.text for e in examples}) == len(examples)
    assert all(e.labels <= names for e in examples)
    for split in fc.SPLITS:
        assert {label for e in examples if e.split == split for label in e.labels} == names


def test_a_malformed_examples_line_is_named(tmp_path):
    path = tmp_path / "set.tsv"
    path.write_text("split\tlabels\ttext\ntrain\t物流慢\t快递慢\nvalidate\t物流慢\t慢\n",
                    encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        fc.load_examples(path)
    assert refused.value.field == "line 3"


@pytest.mark.parametrize("change, field", [
    (lambda t: t["classes"][0].update(code="Bad Code"), "classes[0].code"),
    (lambda t: t["classes"][1].update(name="物流慢"), "classes[1].name"),
    (lambda t: t["classes"][0]["rules"].append("!退款"), "classes[0].rules[2]"),
    (lambda t: t["classes"][1].update(rules="退款"), "classes[1].rules"),
    (lambda t: t.update(model={"threshold": 1.5}), "model.threshold"),
    (lambda t: t.pop("other"), "other"),
])
def test_a_bad_taxonomy_is_refused_naming_the_field(change, field):
    source = taxonomy(slow_delivery=("物流慢", ["物流+慢", "还没到"]),
                      slow_refund=("退款慢", ["退款+没"]))
    change(source)
    with pytest.raises(InvalidInput) as refused:
        feedback_taxonomy.check(source)
    assert refused.value.field == field
