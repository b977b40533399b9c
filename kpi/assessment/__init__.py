"""Monthly assessment (考核): schemes as data, their arithmetic, exclusions, presets.

``scheme`` (the data), ``evaluate`` (rules → outcomes, caps, tiers), ``curves``
(payment tiers, Sichuan's tail curve), ``exclusions`` (outage and surge days),
``measure`` (counters → the figures a scheme reads), ``words`` (the arithmetic in
zh-CN), ``presets`` (Xiaoshan, Haikou, Shenyang, Sichuan). Pure: no I/O.
"""
