"""The monthly utilization report the management department receives per unit and system (Suining 14, Bozhou 27,
Chongqing 16; REGULATIONS.md §9).

``gather`` assembles everything a report says from the store into frozen dataclasses (``model``); the renderers
(``render_xlsx``, ``render_html``, ``render_csv``) are pure functions of that data to bytes, in Chinese or English, so
the same data always gives the same file and tests build the data by hand.
"""
