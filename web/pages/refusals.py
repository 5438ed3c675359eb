"""Engine refusals said to the person at the desk, in their language, with what to do next.

The engine's errors carry a kind (EngineError.code) and an English message written for the API's
callers ("task is claimed by cs_sup"). A person who has just typed an answer needs to read,
in Chinese or English, what happened and what to do, and to know that their input is kept (the
pane keeps the form: static/js/inbox.js). `say(err)` is that sentence: the kind of conflict is
read from the message the engine writes (engine/runtime/verbs.py), the one place that words it.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _

from engine.errors import Conflict, EngineError, Forbidden, NotFound, StepFailed
from web.pages.i18n import label

_CLAIMED = re.compile(r"task is (?:already )?claimed by (\S+)")
_COMPLETED = re.compile(r"task was already completed by (\S+)")
_INSTANCE = re.compile(r"instance is (?:already )?(\w+)")


def say(err: EngineError) -> str:
    """The refusal `err` as a sentence for the person who caused it."""
    text = err.message
    if isinstance(err, Conflict):
        if found := _CLAIMED.search(text):
            return _("%(who)s has claimed this task. Your input is kept: ask them to hand it "
                     "back, or a supervisor to reassign it.", who=found.group(1))
        if found := _COMPLETED.search(text):
            return _("%(who)s has already completed this task; nothing was changed. Pick the "
                     "next task from the list.", who=found.group(1))
        if "changed since you loaded it" in text or "changed by someone else" in text:
            return _("The request changed while you were working on it. Your input is kept: "
                     "look at the case again and submit once more.")
        if "claim the task before completing it" in text:
            return _("Your department asks that a task be claimed before it is completed. "
                     "Your input is kept: claim it, then submit again.")
        if "not claimed" in text:
            return _("Nobody has claimed this task, so there is nothing to hand back.")
        if found := _INSTANCE.search(text):
            return _("The request is %(status)s now. Your input is kept: submit again once a "
                     "supervisor has resumed it.", status=_status(found.group(1)))
        return _("Someone changed this task at the same time. Your input is kept: submit "
                 "again.")
    if isinstance(err, Forbidden):
        return _("You may not act on this task any more (it belongs to another department "
                 "now). Your input is kept; ask a supervisor.")
    if isinstance(err, NotFound):
        return _("This task does not exist any more; it was completed or cancelled.")
    if isinstance(err, StepFailed):
        return _("The process could not go on with this answer and a supervisor has been "
                 "told (an incident). Your input is kept. Details: %(why)s", why=text)
    return text


def field_message(err: EngineError) -> str | None:
    """The sentence for a refused field value the engine words with its facts (a refund above
    what the request may still be refunded: engine.payments.check_refundable), else None."""
    if isinstance(err.details, dict) and "refundable" in err.details:
        return _("At most %(left)s can still be refunded for this request; nothing was "
                 "changed. Correct the amount and submit again.",
                 left=err.details["refundable"])
    return None


# Any page's refusal by the kind of error (EngineError.code): what happened and what to do, in
# the reader's language; the engine's own words follow as the detail (field names, numbers).
_BY_CODE = {
    "not_found": lambda: _("What you asked for does not exist, or not any more."),
    "conflict": lambda: _("This changed in the meantime or is not in a state that allows it; "
                          "nothing was changed. Reload the page and try again."),
    "forbidden": lambda: _("You may not do this: it belongs to another department or role."),
    "invalid_input": lambda: _("Please check the input; nothing was changed."),
    "invalid_definition": lambda: _("The process files have problems; nothing was deployed."),
    "script_error": lambda: _("A step of the process failed; a supervisor can retry it from the "
                              "incidents. Nothing else was changed."),
    "step_failed": lambda: _("A step of the process failed; a supervisor can retry it from the "
                             "incidents. Nothing else was changed."),
}


def explain(err: EngineError) -> str:
    """The refusal `err` said by its kind, for any page (the engine's message is the detail)."""
    said = _BY_CODE.get(err.code)
    return said() if said else _("The platform could not do this; nothing was changed.")


def csrf_refused() -> str:
    """What a person reads when a form's session token was refused (the inbox's script first
    renews the token and sends the form again: this is what is left when that fails too)."""
    return _("The form's security token was refused (CSRF token missing or invalid): reload "
             "the page and try again.")


def signed_out() -> str:
    """What the inbox's script says when renewing the token finds the user signed out."""
    return _("You are signed out. Your input is kept: sign in again in another tab, then "
             "submit again here.")


def _status(status: str) -> str:
    return label(status)
