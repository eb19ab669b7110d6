"""``kan repro wskan``: the WS-KAN paper's experiments as resumable stages, with tables beside its numbers.

:mod:`.plan` (what runs at each scale), :mod:`.stages` (the stages), :mod:`.report` (tables, verdicts,
figure), :mod:`.cli` (the command). ``paper_numbers.json``: the paper's tables, transcribed.
"""
