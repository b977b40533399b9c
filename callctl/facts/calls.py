"""Call facts from queue_log alone (pure): what its queue entries tell of each call.

queue_log knows a call only through its caller's queue entries: the callid of
an entry is the caller channel's Uniqueid, which is the call's Linkedid for a
call that came in from the trunk and was queued on that same channel (the
lab's dialplan: ``from-trunk`` → ``callctl-queue``). From them:

- ``caller_num``: ENTERQUEUE's callerid (data field 2) of the first entry;
- ``started_at``: the first ENTERQUEUE's time. The call began at or before
  it, so it is a stand-in that the upsert's LEAST replaces with AMI's
  Newchannel time, and that never replaces an earlier one.

Line, caller name, end and hangup cause are not in queue_log; they stay as
AMI gave them (or null). The upsert's ``AMI_FIRST`` merge also keeps AMI's
caller number where the dialplan changed it before the queue.
"""

from __future__ import annotations

from collections.abc import Iterable

from callctl.facts.models import CallFact, QueueEntryFact


def calls_from_entries(entries: Iterable[QueueEntryFact]) -> list[CallFact]:
    """One ``CallFact`` per (node, callid), in order of first appearance."""
    calls: dict[tuple[str, str], CallFact] = {}
    for entry in entries:
        key = (entry.node, entry.callid)
        known = calls.get(key)
        if known is None:
            calls[key] = CallFact(
                entry.node, entry.callid, entry.entered_at, caller_num=entry.caller_num
            )
        elif entry.entered_at < known.started_at:
            calls[key] = CallFact(
                entry.node,
                entry.callid,
                entry.entered_at,
                caller_num=entry.caller_num or known.caller_num,
            )
        elif known.caller_num is None and entry.caller_num is not None:
            calls[key] = CallFact(
                entry.node, entry.callid, known.started_at, caller_num=entry.caller_num
            )
    return list(calls.values())
