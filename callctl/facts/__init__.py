"""Call facts: Asterisk's events reduced to idempotent rows (pure).

``models`` holds the fact dataclasses shared by the AMI normalizer and the
queue_log builder; ``queue_log`` parses lines; ``from_queue_log`` folds them
into facts; ``to_kpi`` feeds facts to the KPI arithmetic in ``kpi``.
"""
