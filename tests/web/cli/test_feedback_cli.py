"""`aftersales feedback`, run the way an operator or an outside scorer runs it."""
from __future__ import annotations

import json

from tests.web.cli.test_cli import cli  # noqa: F401  (the fixture: the command on a test database)


def test_evaluate_reports_every_class_and_the_macro_f1_on_the_held_out_part(cli):
    result = cli("feedback", "evaluate", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures["classes"]) == {"物流慢", "快递破损", "质量问题", "描述不符", "客服态度差",
                                       "响应慢", "退款慢", "价格/优惠", "安装/使用", "其他"}
    assert all(f["support"] > 0 for f in figures["classes"].values())
    assert figures["examples"] >= 75
    assert figures["macro"]["f1"] >= 0.8
    table = cli("feedback", "evaluate").output.splitlines()
    assert table[0].startswith("taxonomy: the shipped table") and table[-1].startswith("macro")


def test_classify_prints_one_json_array_per_line_of_input(cli):
    result = cli("feedback", "classify", input="快递太慢了，箱子也压坏了\n\nrefund still not received\n很好\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [
        ["物流慢", "快递破损"], [], ["退款慢"], ["其他"]]


def test_deploy_versions_and_a_draft_taxonomy_file(cli, tmp_path):
    assert "deployed version 1" in cli("feedback", "deploy").output
    assert "already deployed as version 1" in cli("feedback", "deploy").output
    [line] = cli("feedback", "versions").output.splitlines()
    assert line.startswith("1\t") and "\tcli\t10 classes" in line
    draft = tmp_path / "taxonomy.json"
    draft.write_text(json.dumps({"other": {"code": "other", "name": "其他", "en": "Other"},
                                 "classes": [{"code": "slow", "name": "慢", "en": "Slow",
                                              "rules": ["慢"]}]}), encoding="utf-8")
    tried = cli("feedback", "classify", "--taxonomy", str(draft), input="物流太慢\n很好\n")
    assert tried.output.splitlines() == ['["慢"]', '["其他"]']
    draft.write_text('{"classes": []}', encoding="utf-8")
    refused = cli("feedback", "deploy", str(draft))
    assert refused.exit_code == 1 and "other must be an object" in refused.stderr
