"""The words of every notification, in Chinese (zh-CN, the default) and English: one subject
and one text per milestone a process announces (the `template` of its notify.customer service
tasks: grep notify.customer bpmn/*.bpmn), and one line per kind of staff notice in a digest.

Texts are `string.Template`s: `$request_no`, `$amount` ... are the task's parameters (amounts as
"259.00"), and a parameter the task did not send is left empty rather than failing the
notification. A template this table does not know falls back to `update` (a process owner may
add a milestone before its words are written here), so nothing goes unsent for want of words.
"""
from __future__ import annotations

from string import Template

DEFAULT_LANGUAGE = "zh-CN"

# template -> language -> (subject, text)
CUSTOMER = {
    "request_received": {
        "zh-CN": ("售后单 $request_no 已受理", "您好，您的售后申请 $request_no 已收到，我们会尽快处理。"),
        "en": ("Request $request_no received", "Hello, we have received your after-sales "
               "request $request_no and will handle it shortly."),
    },
    "request_accepted": {
        "zh-CN": ("售后单 $request_no 已通过审核", "您的售后申请 $request_no 已通过审核。"),
        "en": ("Request $request_no accepted", "Your after-sales request $request_no has been "
               "accepted."),
    },
    "request_rejected": {
        "zh-CN": ("售后单 $request_no 未通过", "很抱歉，您的售后申请 $request_no 未通过：$reason"),
        "en": ("Request $request_no declined", "We are sorry: your request $request_no was "
               "declined: $reason"),
    },
    "request_cancelled": {
        "zh-CN": ("售后单 $request_no 已取消", "您的售后申请 $request_no 已取消。"),
        "en": ("Request $request_no cancelled", "Your request $request_no has been cancelled."),
    },
    "return_instructions": {
        "zh-CN": ("售后单 $request_no 退货说明", "请将商品寄回，并在包裹内注明售后单号 $request_no。"),
        "en": ("How to return the goods of $request_no", "Please send the goods back with the "
               "request number $request_no in the parcel."),
    },
    "pickup_scheduled": {
        "zh-CN": ("售后单 $request_no 已预约上门取件", "快递员将于 $slot_start 至 $slot_end 上门取件。"),
        "en": ("Pickup booked for $request_no", "A courier will collect the parcel between "
               "$slot_start and $slot_end."),
    },
    "goods_received": {
        "zh-CN": ("售后单 $request_no 已收到退货", "我们已收到您寄回的商品，正在检验。"),
        "en": ("Goods of $request_no received", "We have received the goods you sent back and "
               "are inspecting them."),
    },
    "refund_paid": {
        "zh-CN": ("售后单 $request_no 退款已到账", "退款 ¥$amount 已原路退回，请注意查收。"),
        "en": ("Refund paid for $request_no", "A refund of ¥$amount has been paid to your "
               "original payment method."),
    },
    "clawback": {
        "zh-CN": ("售后单 $request_no 退款追回", "因退货未按时寄回，已追回退款 ¥$amount。"),
        "en": ("Refund of $request_no reclaimed", "As the goods did not come back in time, "
               "¥$amount of the refund has been reclaimed."),
    },
    "repair_quote": {
        "zh-CN": ("售后单 $request_no 维修报价", "维修费用为 ¥$quote_amount，请在 App 中确认是否维修。"),
        "en": ("Repair quote for $request_no", "The repair costs ¥$quote_amount; please accept "
               "or decline the quote in the app."),
    },
    "shipped": {
        "zh-CN": ("售后单 $request_no 已发货", "您的商品已寄出，请注意查收。"),
        "en": ("$request_no shipped", "Your item is on its way back to you."),
    },
    "resolved": {
        "zh-CN": ("售后单 $request_no 已处理完成", "您的售后申请 $request_no 已处理完成。"),
        "en": ("Request $request_no resolved", "Your after-sales request $request_no has been "
               "resolved."),
    },
    "survey": {
        "zh-CN": ("请评价售后单 $request_no", "感谢您的耐心，请为本次售后服务打分。"),
        "en": ("How did we do on $request_no?", "Thank you for your patience; please rate our "
               "service."),
    },
    "complaint_response": {
        "zh-CN": ("投诉 $request_no 已响应", "我们已处理您的投诉：$response"),
        "en": ("Your complaint $request_no", "We have looked into your complaint: $response"),
    },
    "complaint_resolved": {
        "zh-CN": ("投诉 $request_no 处理方案", "处理方案：$resolution"),
        "en": ("Resolution of complaint $request_no", "Our resolution: $resolution"),
    },
    "update": {
        "zh-CN": ("售后单 $request_no 有新进展", "您的售后申请 $request_no 有新进展，请在 App 中查看。"),
        "en": ("Update on $request_no", "There is news on your request $request_no; see the "
               "app for details."),
    },
}

# A staff digest: one subject per department, one line per notice.
DIGEST_SUBJECT = {"zh-CN": "售后待办提醒（$department）：$count 条",
                  "en": "After-sales work for $department: $count notice(s)"}
STAFF = {
    "new_p1_task": {"zh-CN": "新的 P1 任务：$task（$request_no）",
                    "en": "New P1 task: $task ($request_no)"},
    "sla_at_risk": {"zh-CN": "即将超时：$task（$request_no）",
                    "en": "At risk of breaching its SLA: $task ($request_no)"},
    "sla_breached": {"zh-CN": "已超时：$task（$request_no）",
                     "en": "SLA breached: $task ($request_no)"},
    "sla_tier_raised": {"zh-CN": "已超时，转交更高服务层级：$task（$request_no）",
                        "en": "SLA breached, handed to a higher tier: $task ($request_no)"},
    "sla_escalated": {"zh-CN": "超时升级：$task（$request_no）",
                      "en": "Escalated after a breach: $task ($request_no)"},
}


def customer_message(template: str, language: str, values: dict) -> tuple[str, str]:
    """The subject and text of `template` in `language` (zh-CN if not one we write), with
    `values` filled in."""
    words = CUSTOMER.get(template, CUSTOMER["update"])
    subject, text = words.get(language) or words[DEFAULT_LANGUAGE]
    return _fill(subject, values), _fill(text, values)


def staff_line(kind: str, language: str, values: dict) -> str:
    lines = STAFF.get(kind, STAFF["sla_at_risk"])
    return _fill(lines.get(language) or lines[DEFAULT_LANGUAGE], values)


def digest_subject(language: str, values: dict) -> str:
    return _fill(DIGEST_SUBJECT.get(language) or DIGEST_SUBJECT[DEFAULT_LANGUAGE], values)


def _fill(text: str, values: dict) -> str:
    known = {k: "" if v is None else str(v) for k, v in values.items()}
    return Template(text).safe_substitute({**_placeholders(text), **known})


def _placeholders(text: str) -> dict:
    # A parameter the task did not send reads as empty, not as "$name".
    return {name: "" for name in Template(text).get_identifiers()}
